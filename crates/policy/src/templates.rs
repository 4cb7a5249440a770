//! Block pages: kav4proxy's template names and `%MACRO%`s, built-in pages in English, German
//! and French, an optional template directory, and the choice of language.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use bulwark_engine::Status;

use crate::PolicyError;
use bulwark_config::policy::Action;

/// A block page template (file `<name>.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// `object_infected`
    ObjectInfected,
    /// `object_suspicious`
    ObjectSuspicious,
    /// `object_warning`
    ObjectWarning,
    /// `object_cured`
    ObjectCured,
    /// `object_corrupted`
    ObjectCorrupted,
    /// `object_protected`
    ObjectProtected,
    /// `object_error`
    ObjectError,
    /// `license_error`
    LicenseError,
    /// `bases_error`
    BasesError,
    /// `object_limits_exceeded` (Bulwark's own)
    ObjectLimitsExceeded,
    /// `object_too_large` (Bulwark's own)
    ObjectTooLarge,
    /// `object_partial`: a denied HTTP 206 (Bulwark's own)
    ObjectPartial,
}

impl Template {
    /// Every template.
    pub const ALL: [Template; 12] = [
        Template::ObjectInfected,
        Template::ObjectSuspicious,
        Template::ObjectWarning,
        Template::ObjectCured,
        Template::ObjectCorrupted,
        Template::ObjectProtected,
        Template::ObjectError,
        Template::LicenseError,
        Template::BasesError,
        Template::ObjectLimitsExceeded,
        Template::ObjectTooLarge,
        Template::ObjectPartial,
    ];

    /// The template for a status; `Clean` has none.
    pub fn for_status(status: Status) -> Option<Template> {
        Some(match status {
            Status::Clean => return None,
            Status::Infected => Template::ObjectInfected,
            Status::Suspicious => Template::ObjectSuspicious,
            Status::Warning => Template::ObjectWarning,
            Status::Cured => Template::ObjectCured,
            Status::Protected => Template::ObjectProtected,
            Status::Corrupted => Template::ObjectCorrupted,
            Status::Error => Template::ObjectError,
            Status::LimitsExceeded => Template::ObjectLimitsExceeded,
            Status::TooLarge => Template::ObjectTooLarge,
            Status::LicenseError => Template::LicenseError,
            Status::BasesError => Template::BasesError,
        })
    }

    /// The file name without `.html` (kav4proxy's names).
    pub fn name(self) -> &'static str {
        match self {
            Template::ObjectInfected => "object_infected",
            Template::ObjectSuspicious => "object_suspicious",
            Template::ObjectWarning => "object_warning",
            Template::ObjectCured => "object_cured",
            Template::ObjectCorrupted => "object_corrupted",
            Template::ObjectProtected => "object_protected",
            Template::ObjectError => "object_error",
            Template::LicenseError => "license_error",
            Template::BasesError => "bases_error",
            Template::ObjectLimitsExceeded => "object_limits_exceeded",
            Template::ObjectTooLarge => "object_too_large",
            Template::ObjectPartial => "object_partial",
        }
    }

    /// `%VERDICT%`: the status name in kav4proxy's spelling.
    pub fn verdict(self) -> &'static str {
        match self {
            Template::ObjectInfected => "INFECTED",
            Template::ObjectSuspicious => "SUSPICIOUS",
            Template::ObjectWarning => "WARNING",
            Template::ObjectCured => "CURED",
            Template::ObjectCorrupted => "CORRUPTED",
            Template::ObjectProtected => "PROTECTED",
            Template::ObjectError => "ERROR",
            Template::LicenseError => "LICENSE_ERROR",
            Template::BasesError => "BASES_ERROR",
            Template::ObjectLimitsExceeded => "LIMITS_EXCEEDED",
            Template::ObjectTooLarge => "TOO_LARGE",
            Template::ObjectPartial => "PARTIAL",
        }
    }
}

impl From<Status> for Template {
    /// The status's template; `Clean` (never blocked) maps to `object_error`.
    fn from(s: Status) -> Self {
        Template::for_status(s).unwrap_or(Template::ObjectError)
    }
}

/// The values substituted into a block page; every one is HTML-escaped.
#[derive(Debug, Clone, Default)]
pub struct PageValues<'a> {
    /// `%URL%`
    pub url: &'a str,
    /// `%CLIENT_ADDR%`
    pub client_addr: Option<IpAddr>,
    /// `%USER%`
    pub user: Option<&'a str>,
    /// `%GROUP%`
    pub group: &'a str,
    /// `%ACTION%` (`DENY` when unset).
    pub action: Option<Action>,
    /// Threat names; they fill `%VIRUS_LIST%`, `%SUSP_LIST%`, `%WARN_LIST%` or `%CURED_LIST%`
    /// according to the status.
    pub threats: &'a [String],
    /// `%DATE%`, formatted by the caller (the policy has no clock).
    pub date: &'a str,
}

/// A rendered block page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPage {
    /// The HTML (serve as `text/html; charset=utf-8`, status 403, `Cache-Control: no-store`).
    pub html: String,
    /// Its language tag (`en`, `de`, `fr`, or a template directory's language).
    pub lang: String,
}

/// `%PRODUCT%`.
pub const PRODUCT: &str = concat!("Bulwark ", env!("CARGO_PKG_VERSION"));

/// Built-in languages; the first is the fallback.
pub const BUILTIN_LANGS: [&str; 3] = ["en", "de", "fr"];

/// Largest template file read from a template directory.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// Templates read from the template directory at compile time.
#[derive(Debug, Clone, Default)]
pub(crate) struct TemplateSet {
    /// `(lang, name)` → text, from `<dir>/<lang>/<name>.html`.
    by_lang: HashMap<(String, &'static str), String>,
    /// `name` → text, from `<dir>/<name>.html`.
    neutral: HashMap<&'static str, String>,
    /// Languages offered, lower case, built-ins first.
    langs: Vec<String>,
}

impl TemplateSet {
    /// Reads `<dir>/<lang>/<name>.html` and `<dir>/<name>.html` for every known template name.
    /// Other files are ignored.
    pub(crate) fn load(dir: Option<&Path>, errors: &mut Vec<PolicyError>) -> Self {
        let mut set = TemplateSet {
            langs: BUILTIN_LANGS.iter().map(|s| s.to_string()).collect(),
            ..TemplateSet::default()
        };
        let Some(dir) = dir else { return set };
        let key = "policy.templates_dir";
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(PolicyError::new(
                    key.into(),
                    format!("{}: {e}", dir.display()),
                ));
                return set;
            }
        };
        // Templates are read only from inside the directory: a symbolic link out of it (to a
        // secret the service user can read) is refused, never served as a block page.
        let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        for t in Template::ALL {
            let path = dir.join(format!("{}.html", t.name()));
            if let Some(text) = read_template(&path, &root, errors) {
                set.neutral.insert(t.name(), text);
            }
        }
        for entry in entries.flatten() {
            let Ok(lang) = entry.file_name().into_string() else {
                continue;
            };
            if !entry.path().is_dir() || !is_lang_tag(&lang) {
                continue;
            }
            let lang = lang.to_ascii_lowercase();
            for t in Template::ALL {
                let path = entry.path().join(format!("{}.html", t.name()));
                if let Some(text) = read_template(&path, &root, errors) {
                    set.by_lang.insert((lang.clone(), t.name()), text);
                    if !set.langs.contains(&lang) {
                        set.langs.push(lang.clone());
                    }
                }
            }
        }
        set
    }

    /// Renders `template` in the best language for `accept_language`.
    pub(crate) fn render(
        &self,
        template: Template,
        v: &PageValues<'_>,
        accept_language: Option<&str>,
    ) -> RenderedPage {
        let lang = choose_language(accept_language, &self.langs);
        let text = self
            .by_lang
            .get(&(lang.clone(), template.name()))
            .or_else(|| self.neutral.get(template.name()))
            .cloned();
        let (text, lang) = match text {
            Some(t) => (t, lang),
            None if BUILTIN_LANGS.contains(&lang.as_str()) => (builtin(&lang, template), lang),
            None => (builtin("en", template), "en".to_string()),
        };
        RenderedPage {
            html: expand(&text, template, v),
            lang,
        }
    }
}

fn read_template(path: &Path, root: &Path, errors: &mut Vec<PolicyError>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let err = |m: String| PolicyError::new("policy.templates_dir".into(), m);
    match std::fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => {}
        Ok(real) => {
            errors.push(err(format!(
                "{} leads to {} outside the templates directory: refused",
                path.display(),
                real.display()
            )));
            return None;
        }
        Err(e) => {
            errors.push(err(format!("{}: {e}", path.display())));
            return None;
        }
    }
    if !meta.is_file() {
        return None;
    }
    if meta.len() > MAX_TEMPLATE_BYTES {
        errors.push(err(format!("{}: larger than 256 KiB", path.display())));
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(err(format!("{}: {e}", path.display())));
            None
        }
    }
}

fn is_lang_tag(s: &str) -> bool {
    (2..=16).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphabetic()
}

/// Picks the language for an `Accept-Language` value among `available` (lower case, the first
/// is the fallback): tags by descending q (ties in written order), exact match first, then the
/// primary subtag (`de-CH` → `de`); `*` takes the fallback; `q=0` excludes.
pub fn choose_language(accept_language: Option<&str>, available: &[String]) -> String {
    let fallback = available.first().cloned().unwrap_or_else(|| "en".into());
    let Some(header) = accept_language else {
        return fallback;
    };
    let mut tags: Vec<(u16, usize, String)> = Vec::new();
    for (i, part) in header.split(',').enumerate() {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .map_or(Some(1000), parse_q);
        match q {
            Some(q) if q > 0 && !tag.is_empty() => tags.push((q, i, tag)),
            _ => {}
        }
    }
    tags.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, tag) in tags {
        if tag == "*" {
            return fallback;
        }
        if available.contains(&tag) {
            return tag;
        }
        let primary = tag.split('-').next().unwrap_or("");
        if let Some(l) = available.iter().find(|l| l.as_str() == primary) {
            return l.clone();
        }
    }
    fallback
}

/// A q-value in thousandths (`0.8` → 800); `None` when malformed.
fn parse_q(s: &str) -> Option<u16> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac_val = format!("{frac:0<3}").parse::<u16>().ok()?;
    let q = whole + frac_val;
    (q <= 1000).then_some(q)
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Substitutes `%MACRO%`s in one pass (values are never expanded again); unknown `%…%` stay.
fn expand(text: &str, t: Template, v: &PageValues<'_>) -> String {
    let list = |which: Template| {
        if t == which {
            v.threats.join(", ")
        } else {
            String::new()
        }
    };
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "URL" => v.url.to_string(),
            "CLIENT_ADDR" => v.client_addr.map(|a| a.to_string()).unwrap_or_default(),
            "USER" => v.user.unwrap_or("").to_string(),
            "GROUP" => v.group.to_string(),
            "VERDICT" | "STATUS" => t.verdict().to_string(),
            "TEMPLATE" => t.name().to_string(),
            "ACTION" => v.action.unwrap_or(Action::Deny).as_str().to_string(),
            "VIRUS_LIST" => list(Template::ObjectInfected),
            "SUSP_LIST" => list(Template::ObjectSuspicious),
            "WARN_LIST" => list(Template::ObjectWarning),
            "CURED_LIST" | "VIRUS_CURED" => list(Template::ObjectCured),
            "THREATS" => v.threats.join(", "),
            "DATE" => v.date.to_string(),
            "PRODUCT" => PRODUCT.to_string(),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_end = after.find('%');
        let replaced = name_end.and_then(|end| {
            let name = &after[..end];
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            if ok {
                value(name).map(|val| (val, end))
            } else {
                None
            }
        });
        match replaced {
            Some((val, end)) => {
                out.push_str(&html_escape(&val));
                rest = &after[end + 1..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Title and explanation of a built-in page.
fn texts(lang: &str, t: Template) -> (&'static str, &'static str) {
    use Template::*;
    match (lang, t) {
        ("de", ObjectInfected) => ("Virus gefunden", "Das angeforderte Objekt ist infiziert und wurde blockiert: %VIRUS_LIST%. Brach ein früherer Download dieser Datei kurz vor dem Ende ab, war das der Grund: die Bedrohung wurde erst am Ende der Übertragung erkannt und die Datei nicht vollständig ausgeliefert."),
        ("de", ObjectSuspicious) => ("Verdächtiges Objekt", "Das angeforderte Objekt ist verdächtig und wurde blockiert: %SUSP_LIST%"),
        ("de", ObjectWarning) => ("Möglicher Virus", "Das angeforderte Objekt ähnelt einem bekannten Virus und wurde blockiert: %WARN_LIST%"),
        ("de", ObjectCured) => ("Objekt desinfiziert", "Das angeforderte Objekt war infiziert (%CURED_LIST%) und wird nicht ausgeliefert."),
        ("de", ObjectCorrupted) => ("Beschädigtes Objekt", "Das angeforderte Objekt ist beschädigt und konnte nicht geprüft werden."),
        ("de", ObjectProtected) => ("Geschütztes Objekt", "Das angeforderte Objekt ist verschlüsselt oder kennwortgeschützt und konnte daher nicht auf Viren geprüft werden; die Richtlinie dieses Netzes blockiert, was nicht geprüft werden kann. Wenn Sie es brauchen, lassen Sie es sich unverschlüsselt senden oder wenden Sie sich an Ihren Administrator."),
        ("de", ObjectError) => ("Prüfung fehlgeschlagen", "Das angeforderte Objekt konnte nicht auf Viren geprüft werden."),
        ("de", LicenseError) => ("Lizenzfehler", "Der Virenschutz hat keine gültige Lizenz; Objekte werden nicht ausgeliefert."),
        ("de", BasesError) => ("Signaturdatenbank fehlt", "Der Virenschutz hat keine nutzbaren Signaturen; Objekte werden nicht ausgeliefert."),
        ("de", ObjectLimitsExceeded) => ("Prüfgrenzen überschritten", "Das angeforderte Objekt überschreitet die Prüfgrenzen (Verschachtelung, Größe oder Anzahl)."),
        ("de", ObjectTooLarge) => ("Objekt zu groß", "Das angeforderte Objekt ist zu groß, um geprüft zu werden."),
        ("de", ObjectPartial) => ("Teilantwort blockiert", "Teilweise Downloads (HTTP 206) sind nicht erlaubt; laden Sie das ganze Objekt herunter."),
        ("fr", ObjectInfected) => ("Virus détecté", "L'objet demandé est infecté et a été bloqué : %VIRUS_LIST%. Si un téléchargement précédent de ce fichier s'est interrompu juste avant la fin, c'est pour cette raison : la menace n'a été détectée qu'à la fin du transfert et le fichier n'a pas été livré en entier."),
        ("fr", ObjectSuspicious) => ("Objet suspect", "L'objet demandé est suspect et a été bloqué : %SUSP_LIST%"),
        ("fr", ObjectWarning) => ("Virus possible", "L'objet demandé ressemble à un virus connu et a été bloqué : %WARN_LIST%"),
        ("fr", ObjectCured) => ("Objet désinfecté", "L'objet demandé était infecté (%CURED_LIST%) et n'est pas livré."),
        ("fr", ObjectCorrupted) => ("Objet endommagé", "L'objet demandé est endommagé et n'a pas pu être analysé."),
        ("fr", ObjectProtected) => ("Objet protégé", "L'objet demandé est chiffré ou protégé par mot de passe : il n'a pas pu être vérifié, et la politique de ce réseau bloque ce qui ne peut pas l'être. Si vous en avez besoin, demandez-le non chiffré, ou adressez-vous à votre administrateur."),
        ("fr", ObjectError) => ("Échec de l'analyse", "L'objet demandé n'a pas pu être analysé."),
        ("fr", LicenseError) => ("Erreur de licence", "L'antivirus n'a pas de licence valide ; les objets ne sont pas livrés."),
        ("fr", BasesError) => ("Bases antivirales absentes", "L'antivirus n'a pas de signatures utilisables ; les objets ne sont pas livrés."),
        ("fr", ObjectLimitsExceeded) => ("Limites d'analyse dépassées", "L'objet demandé dépasse les limites d'analyse (imbrication, taille ou nombre)."),
        ("fr", ObjectTooLarge) => ("Objet trop volumineux", "L'objet demandé est trop volumineux pour être analysé."),
        ("fr", ObjectPartial) => ("Réponse partielle bloquée", "Les téléchargements partiels (HTTP 206) ne sont pas autorisés ; téléchargez l'objet entier."),
        (_, ObjectInfected) => ("Virus found", "The requested object is infected and was blocked: %VIRUS_LIST%. If an earlier download of this file stopped just before its end, this is why: the threat was found at the end of the transfer, and the file was not delivered whole."),
        (_, ObjectSuspicious) => ("Suspicious object", "The requested object is suspicious and was blocked: %SUSP_LIST%"),
        (_, ObjectWarning) => ("Possible virus", "The requested object resembles a known virus and was blocked: %WARN_LIST%"),
        (_, ObjectCured) => ("Object disinfected", "The requested object was infected (%CURED_LIST%) and is not delivered."),
        (_, ObjectCorrupted) => ("Corrupted object", "The requested object is damaged and could not be scanned."),
        (_, ObjectProtected) => ("Protected object", "The requested object is encrypted or password-protected, so it could not be checked for viruses, and this network's policy blocks what cannot be checked. If you need it, ask for it to be sent unencrypted, or ask your administrator."),
        (_, ObjectError) => ("Scan failed", "The requested object could not be scanned for viruses."),
        (_, LicenseError) => ("Licence error", "The anti-virus service has no valid licence; objects are not delivered."),
        (_, BasesError) => ("Signatures missing", "The anti-virus service has no usable signatures; objects are not delivered."),
        (_, ObjectLimitsExceeded) => ("Scan limits exceeded", "The requested object exceeds the scan limits (nesting, size or count)."),
        (_, ObjectTooLarge) => ("Object too large", "The requested object is too large to be scanned."),
        (_, ObjectPartial) => ("Partial response blocked", "Partial downloads (HTTP 206) are not allowed; download the whole object."),
    }
}

/// Labels of the details table: URL, client, group, date, verdict.
fn labels(lang: &str) -> [&'static str; 5] {
    match lang {
        "de" => ["Adresse", "Client", "Gruppe", "Datum", "Ergebnis"],
        "fr" => ["Adresse", "Client", "Groupe", "Date", "Verdict"],
        _ => ["URL", "Client", "Group", "Date", "Verdict"],
    }
}

/// A built-in page: self-contained HTML, no external asset.
fn builtin(lang: &str, t: Template) -> String {
    let (title, text) = texts(lang, t);
    let [url, client, group, date, verdict] = labels(lang);
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n<style>\
body{{font-family:sans-serif;margin:3em auto;max-width:44em;color:#222;padding:0 1em}}\
h1{{color:#b00020;font-size:1.6em}}th{{text-align:left;padding-right:1em;vertical-align:top}}\
td{{word-break:break-all}}footer{{margin-top:2em;color:#777;font-size:.85em}}\
</style>\n</head>\n<body>\n<h1>{title}</h1>\n<p>{text}</p>\n<table>\n\
<tr><th>{url}</th><td>%URL%</td></tr>\n<tr><th>{verdict}</th><td>%VERDICT%</td></tr>\n\
<tr><th>{client}</th><td>%CLIENT_ADDR% %USER%</td></tr>\n<tr><th>{group}</th><td>%GROUP%</td></tr>\n\
<tr><th>{date}</th><td>%DATE%</td></tr>\n</table>\n<footer>%PRODUCT%</footer>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs() -> Vec<String> {
        BUILTIN_LANGS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accept_language_with_q_values() {
        let l = langs();
        assert_eq!(choose_language(None, &l), "en");
        assert_eq!(choose_language(Some("de"), &l), "de");
        assert_eq!(choose_language(Some("de-CH, fr;q=0.9"), &l), "de");
        assert_eq!(
            choose_language(Some("fr;q=0.5, de;q=0.8, en;q=0.1"), &l),
            "de"
        );
        assert_eq!(choose_language(Some("de;q=0, fr;q=0.2"), &l), "fr");
        assert_eq!(choose_language(Some("ja, *;q=0.5"), &l), "en");
        assert_eq!(choose_language(Some("ja, FR-ca;q=0.3"), &l), "fr");
        assert_eq!(choose_language(Some("de;q=2, fr;q=x"), &l), "en");
        assert_eq!(choose_language(Some(""), &l), "en");
    }

    #[test]
    fn macros_are_escaped_and_not_reexpanded() {
        let threats = ["Eicar<b>".to_string()];
        let v = PageValues {
            url: "http://x.test/?<script>alert(1)</script>%GROUP%",
            client_addr: Some("10.0.0.1".parse().unwrap()),
            user: Some("bob\"s"),
            group: "g&h",
            threats: &threats,
            date: "2024-01-01",
            ..PageValues::default()
        };
        let set = TemplateSet::load(None, &mut Vec::new());
        let p = set.render(Template::ObjectInfected, &v, Some("en"));
        assert_eq!(p.lang, "en");
        assert!(!p.html.contains("<script>"), "{}", p.html);
        assert!(p
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;%GROUP%"));
        assert!(p.html.contains("Eicar&lt;b&gt;") && p.html.contains("g&amp;h"));
        assert!(p.html.contains("bob&quot;s") && p.html.contains("10.0.0.1"));
        assert!(p.html.contains(PRODUCT) && p.html.contains("INFECTED"));
        assert!(!p.html.contains("src=") && !p.html.contains("href="));
        let d = set.render(Template::ObjectTooLarge, &v, Some("de-DE,de;q=0.9"));
        assert_eq!(d.lang, "de");
        assert!(d.html.contains("zu groß") && !d.html.contains("Eicar"));
    }

    #[test]
    fn a_template_linked_out_of_the_directory_is_refused() {
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "password_hash = 'x'").expect("secret");
        let dir = tempfile::tempdir().expect("tempdir");
        let name = format!("{}.html", Template::ObjectInfected.name());
        std::os::unix::fs::symlink(&secret, dir.path().join(&name)).expect("symlink");
        // A link inside the directory is fine.
        std::fs::create_dir(dir.path().join("de")).expect("mkdir");
        std::fs::write(dir.path().join("de").join("real.html"), "<p>%URL%</p>").expect("write");
        std::os::unix::fs::symlink("real.html", dir.path().join("de").join(&name))
            .expect("symlink");
        let mut errors = Vec::new();
        let set = TemplateSet::load(Some(dir.path()), &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0]
            .message
            .contains("outside the templates directory"));
        let v = PageValues::default();
        let p = set.render(Template::ObjectInfected, &v, Some("en"));
        assert!(!p.html.contains("password_hash"), "{}", p.html);
        let d = set.render(Template::ObjectInfected, &v, Some("de"));
        assert_eq!(d.html, "<p></p>");
    }

    #[test]
    fn expand_leaves_unknown_and_lone_percents() {
        let v = PageValues::default();
        let s = expand("100% %NOPE% %URL%x %ACTION%%", Template::ObjectError, &v);
        assert_eq!(s, "100% %NOPE% x DENY%");
    }

    #[test]
    fn every_status_but_clean_has_a_template() {
        assert_eq!(Template::for_status(Status::Clean), None);
        assert_eq!(Template::from(Status::TooLarge).name(), "object_too_large");
        assert_eq!(Template::from(Status::LicenseError).name(), "license_error");
        for t in Template::ALL {
            for l in BUILTIN_LANGS {
                assert!(builtin(l, t).contains("%URL%"));
            }
        }
    }
}
