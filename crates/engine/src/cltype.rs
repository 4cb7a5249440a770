//! ClamAV's file types (`CL_TYPE_*`), as logical signatures name them in `Container:` and
//! `Intermediates:` conditions, and the condition itself, checked against the chain of
//! containers an object was found in (SPEC F-ENG-2; ClamAV's "File Types Reference").

use std::fmt;
use std::str::FromStr;

use crate::filetype::Target;

/// A ClamAV file type. [`ClType::Any`] is `CL_TYPE_ANY`: in `Container:` it means "not in a
/// container" (a root object), in `Intermediates:` it matches any one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ClType {
    /// `CL_TYPE_ANY`.
    Any,
    /// `CL_TYPE_7Z`.
    SevenZ,
    /// `CL_TYPE_7ZSFX`.
    SevenZSfx,
    /// `CL_TYPE_APM`.
    Apm,
    /// `CL_TYPE_ARJ`.
    Arj,
    /// `CL_TYPE_ARJSFX`.
    ArjSfx,
    /// `CL_TYPE_AUTOIT`.
    Autoit,
    /// `CL_TYPE_BINARY_DATA`.
    BinaryData,
    /// `CL_TYPE_BINHEX`.
    Binhex,
    /// `CL_TYPE_BZ`.
    Bz,
    /// `CL_TYPE_CABSFX`.
    CabSfx,
    /// `CL_TYPE_CPIO_CRC`.
    CpioCrc,
    /// `CL_TYPE_CPIO_NEWC`.
    CpioNewc,
    /// `CL_TYPE_CPIO_ODC`.
    CpioOdc,
    /// `CL_TYPE_CPIO_OLD`.
    CpioOld,
    /// `CL_TYPE_CRYPTFF`.
    Cryptff,
    /// `CL_TYPE_DMG`.
    Dmg,
    /// `CL_TYPE_EGG`.
    Egg,
    /// `CL_TYPE_ELF`.
    Elf,
    /// `CL_TYPE_GIF`.
    Gif,
    /// `CL_TYPE_GPT`.
    Gpt,
    /// `CL_TYPE_GRAPHICS`.
    Graphics,
    /// `CL_TYPE_GZ`.
    Gz,
    /// `CL_TYPE_HTML_UTF16`.
    HtmlUtf16,
    /// `CL_TYPE_HTML`.
    Html,
    /// `CL_TYPE_HWP3`.
    Hwp3,
    /// `CL_TYPE_HWPOLE2`.
    HwpOle2,
    /// `CL_TYPE_INTERNAL`.
    Internal,
    /// `CL_TYPE_ISHIELD_MSI`.
    IshieldMsi,
    /// `CL_TYPE_ISO9660`.
    Iso9660,
    /// `CL_TYPE_JAVA`.
    Java,
    /// `CL_TYPE_JPEG`.
    Jpeg,
    /// `CL_TYPE_LNK`.
    Lnk,
    /// `CL_TYPE_MACHO_UNIBIN`.
    MachoUnibin,
    /// `CL_TYPE_MACHO`.
    Macho,
    /// `CL_TYPE_MAIL`.
    Mail,
    /// `CL_TYPE_MBR`.
    Mbr,
    /// `CL_TYPE_MHTML`.
    Mhtml,
    /// `CL_TYPE_MSCAB`.
    MsCab,
    /// `CL_TYPE_MSCHM`.
    MsChm,
    /// `CL_TYPE_MSEXE`.
    MsExe,
    /// `CL_TYPE_MSOLE2`.
    MsOle2,
    /// `CL_TYPE_MSSZDD`.
    MsSzdd,
    /// `CL_TYPE_NULSFT`.
    Nulsft,
    /// `CL_TYPE_OLD_TAR`.
    OldTar,
    /// `CL_TYPE_OOXML_HWP`.
    OoxmlHwp,
    /// `CL_TYPE_OOXML_PPT`.
    OoxmlPpt,
    /// `CL_TYPE_OOXML_WORD`.
    OoxmlWord,
    /// `CL_TYPE_OOXML_XL`.
    OoxmlXl,
    /// `CL_TYPE_PART_HFSPLUS`.
    PartHfsplus,
    /// `CL_TYPE_PDF`.
    Pdf,
    /// `CL_TYPE_PNG`.
    Png,
    /// `CL_TYPE_POSIX_TAR`.
    PosixTar,
    /// `CL_TYPE_PS`.
    Ps,
    /// `CL_TYPE_RAR`.
    Rar,
    /// `CL_TYPE_RARSFX`.
    RarSfx,
    /// `CL_TYPE_RIFF`.
    Riff,
    /// `CL_TYPE_RTF`.
    Rtf,
    /// `CL_TYPE_SCRENC`.
    Screnc,
    /// `CL_TYPE_SCRIPT`.
    Script,
    /// `CL_TYPE_SIS`.
    Sis,
    /// `CL_TYPE_SWF`.
    Swf,
    /// `CL_TYPE_TEXT_ASCII`.
    TextAscii,
    /// `CL_TYPE_TEXT_UTF16BE`.
    TextUtf16Be,
    /// `CL_TYPE_TEXT_UTF16LE`.
    TextUtf16Le,
    /// `CL_TYPE_TEXT_UTF8`.
    TextUtf8,
    /// `CL_TYPE_TIFF`.
    Tiff,
    /// `CL_TYPE_TNEF`.
    Tnef,
    /// `CL_TYPE_UUENCODED`.
    Uuencoded,
    /// `CL_TYPE_XAR`.
    Xar,
    /// `CL_TYPE_XDP`.
    Xdp,
    /// `CL_TYPE_XML_HWP`.
    XmlHwp,
    /// `CL_TYPE_XML_WORD`.
    XmlWord,
    /// `CL_TYPE_XML_XL`.
    XmlXl,
    /// `CL_TYPE_XZ`.
    Xz,
    /// `CL_TYPE_ZIP`.
    Zip,
    /// `CL_TYPE_ZIPSFX`.
    ZipSfx,
}

/// Every named type with its ClamAV name (without the `CL_TYPE_` prefix).
const NAMES: &[(ClType, &str)] = &[
    (ClType::Any, "ANY"),
    (ClType::SevenZ, "7Z"),
    (ClType::SevenZSfx, "7ZSFX"),
    (ClType::Apm, "APM"),
    (ClType::Arj, "ARJ"),
    (ClType::ArjSfx, "ARJSFX"),
    (ClType::Autoit, "AUTOIT"),
    (ClType::BinaryData, "BINARY_DATA"),
    (ClType::Binhex, "BINHEX"),
    (ClType::Bz, "BZ"),
    (ClType::CabSfx, "CABSFX"),
    (ClType::CpioCrc, "CPIO_CRC"),
    (ClType::CpioNewc, "CPIO_NEWC"),
    (ClType::CpioOdc, "CPIO_ODC"),
    (ClType::CpioOld, "CPIO_OLD"),
    (ClType::Cryptff, "CRYPTFF"),
    (ClType::Dmg, "DMG"),
    (ClType::Egg, "EGG"),
    (ClType::Elf, "ELF"),
    (ClType::Gif, "GIF"),
    (ClType::Gpt, "GPT"),
    (ClType::Graphics, "GRAPHICS"),
    (ClType::Gz, "GZ"),
    (ClType::HtmlUtf16, "HTML_UTF16"),
    (ClType::Html, "HTML"),
    (ClType::Hwp3, "HWP3"),
    (ClType::HwpOle2, "HWPOLE2"),
    (ClType::Internal, "INTERNAL"),
    (ClType::IshieldMsi, "ISHIELD_MSI"),
    (ClType::Iso9660, "ISO9660"),
    (ClType::Java, "JAVA"),
    (ClType::Jpeg, "JPEG"),
    (ClType::Lnk, "LNK"),
    (ClType::MachoUnibin, "MACHO_UNIBIN"),
    (ClType::Macho, "MACHO"),
    (ClType::Mail, "MAIL"),
    (ClType::Mbr, "MBR"),
    (ClType::Mhtml, "MHTML"),
    (ClType::MsCab, "MSCAB"),
    (ClType::MsChm, "MSCHM"),
    (ClType::MsExe, "MSEXE"),
    (ClType::MsOle2, "MSOLE2"),
    (ClType::MsSzdd, "MSSZDD"),
    (ClType::Nulsft, "NULSFT"),
    (ClType::OldTar, "OLD_TAR"),
    (ClType::OoxmlHwp, "OOXML_HWP"),
    (ClType::OoxmlPpt, "OOXML_PPT"),
    (ClType::OoxmlWord, "OOXML_WORD"),
    (ClType::OoxmlXl, "OOXML_XL"),
    (ClType::PartHfsplus, "PART_HFSPLUS"),
    (ClType::Pdf, "PDF"),
    (ClType::Png, "PNG"),
    (ClType::PosixTar, "POSIX_TAR"),
    (ClType::Ps, "PS"),
    (ClType::Rar, "RAR"),
    (ClType::RarSfx, "RARSFX"),
    (ClType::Riff, "RIFF"),
    (ClType::Rtf, "RTF"),
    (ClType::Screnc, "SCRENC"),
    (ClType::Script, "SCRIPT"),
    (ClType::Sis, "SIS"),
    (ClType::Swf, "SWF"),
    (ClType::TextAscii, "TEXT_ASCII"),
    (ClType::TextUtf16Be, "TEXT_UTF16BE"),
    (ClType::TextUtf16Le, "TEXT_UTF16LE"),
    (ClType::TextUtf8, "TEXT_UTF8"),
    (ClType::Tiff, "TIFF"),
    (ClType::Tnef, "TNEF"),
    (ClType::Uuencoded, "UUENCODED"),
    (ClType::Xar, "XAR"),
    (ClType::Xdp, "XDP"),
    (ClType::XmlHwp, "XML_HWP"),
    (ClType::XmlWord, "XML_WORD"),
    (ClType::XmlXl, "XML_XL"),
    (ClType::Xz, "XZ"),
    (ClType::Zip, "ZIP"),
    (ClType::ZipSfx, "ZIPSFX"),
];

impl ClType {
    /// The ClamAV name, e.g. `CL_TYPE_ZIP`.
    pub fn name(self) -> String {
        let short = NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, n)| *n)
            .unwrap_or("ANY");
        format!("CL_TYPE_{short}")
    }
}

impl fmt::Display for ClType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is not one of ClamAV's file types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ClamAV file type {0:?}")]
pub struct UnknownClType(pub String);

impl FromStr for ClType {
    type Err = UnknownClType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let short = s
            .trim()
            .strip_prefix("CL_TYPE_")
            .ok_or_else(|| UnknownClType(s.to_string()))?;
        NAMES
            .iter()
            .find(|(_, n)| *n == short)
            .map(|(t, _)| *t)
            .ok_or_else(|| UnknownClType(s.to_string()))
    }
}

impl ClType {
    /// The signature target whose signatures apply to an object of this type (ClamAV's
    /// `targettab`: an exact type, e.g. only `CL_TYPE_GRAPHICS` is target 5, not
    /// `CL_TYPE_PNG`), or [`Target::Any`] for a type without one.
    pub fn target(self) -> Target {
        match self {
            ClType::MsExe => Target::Pe,
            ClType::MsOle2 => Target::Ole2,
            ClType::Html => Target::Html,
            ClType::Mail => Target::Mail,
            ClType::Graphics => Target::Graphics,
            ClType::Elf => Target::Elf,
            ClType::TextAscii => Target::Text,
            ClType::Macho => Target::MachO,
            ClType::Pdf => Target::Pdf,
            ClType::Swf => Target::Flash,
            ClType::Java => Target::Java,
            _ => Target::Any,
        }
    }

    /// Whether a `HandlerType` naming this type is honoured in full: the object is scanned
    /// again as this type, by its target's signatures ([`ClType::target`]) and/or by the deep
    /// scanner's opener for it ([`HANDLED`]).
    pub fn handled(self) -> bool {
        HANDLED.contains(&self) || self.target() != Target::Any
    }
}

/// The `HandlerType` file types the deep scanner can open an object as, with the opener of
/// that format (a type outside this list and without a signature target, see
/// [`ClType::handled`], is loaded but the load report counts it as approximated).
pub const HANDLED: [ClType; 11] = [
    ClType::Zip,
    ClType::Pdf,
    ClType::Gz,
    ClType::Bz,
    ClType::Xz,
    ClType::SevenZ,
    ClType::MsCab,
    ClType::MsOle2,
    ClType::PosixTar,
    ClType::MsChm,
    ClType::Mail,
];

/// Where a logical signature may match, by the containers around the scanned object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ContainerCond {
    /// `Container:T`: the immediate container is `T`; `CL_TYPE_ANY`: a root object only.
    Container(ClType),
    /// `Intermediates:A>B>…`: the innermost layers, top-down, the last one being the
    /// immediate container; `CL_TYPE_ANY` matches any one layer.
    Intermediates(Vec<ClType>),
}

/// Most layers an `Intermediates:` condition may name (as ClamAV).
pub const MAX_INTERMEDIATES: usize = 16;

impl ContainerCond {
    /// Parses the value of `Container:` (`intermediates = false`) or `Intermediates:`.
    pub fn parse(value: &str, intermediates: bool) -> Result<Self, UnknownClType> {
        if !intermediates {
            return value.parse().map(ContainerCond::Container);
        }
        let layers = value
            .split('>')
            .map(str::parse)
            .collect::<Result<Vec<ClType>, _>>()?;
        if layers.is_empty() || layers.len() > MAX_INTERMEDIATES {
            return Err(UnknownClType(value.to_string()));
        }
        Ok(ContainerCond::Intermediates(layers))
    }

    /// True when an object found inside `ancestry` (the containers from the outermost to the
    /// immediate one; empty for a root object) meets the condition.
    pub fn matches(&self, ancestry: &[ClType]) -> bool {
        match self {
            ContainerCond::Container(ClType::Any) => ancestry.is_empty(),
            ContainerCond::Container(t) => ancestry.last() == Some(t),
            ContainerCond::Intermediates(layers) => {
                layers.len() <= ancestry.len()
                    && layers
                        .iter()
                        .rev()
                        .zip(ancestry.iter().rev())
                        .all(|(want, got)| *want == ClType::Any || want == got)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (t, n) in NAMES {
            let full = format!("CL_TYPE_{n}");
            assert_eq!(full.parse::<ClType>(), Ok(*t));
            assert_eq!(t.name(), full);
        }
        assert!("CL_TYPE_NOPE".parse::<ClType>().is_err());
        assert!("ZIP".parse::<ClType>().is_err());
    }

    #[test]
    fn container_is_the_immediate_parent_and_any_is_root_only() {
        let c = ContainerCond::parse("CL_TYPE_ZIP", false).expect("parse");
        assert!(c.matches(&[ClType::Zip]));
        assert!(c.matches(&[ClType::Mail, ClType::Zip]));
        assert!(!c.matches(&[ClType::Zip, ClType::Mail]));
        assert!(!c.matches(&[]));
        let any = ContainerCond::parse("CL_TYPE_ANY", false).expect("parse");
        assert!(any.matches(&[]));
        assert!(!any.matches(&[ClType::Zip]));
    }

    #[test]
    fn intermediates_are_the_innermost_layers_top_down_with_any_as_wildcard() {
        let c = ContainerCond::parse("CL_TYPE_MAIL>CL_TYPE_ZIP", true).expect("parse");
        assert!(c.matches(&[ClType::Mail, ClType::Zip]));
        assert!(c.matches(&[ClType::Gz, ClType::Mail, ClType::Zip]));
        assert!(!c.matches(&[ClType::Zip, ClType::Mail]));
        assert!(!c.matches(&[ClType::Zip]));
        let single = ContainerCond::parse("CL_TYPE_7Z", true).expect("parse");
        assert!(single.matches(&[ClType::SevenZ]));
        let wild = ContainerCond::parse("CL_TYPE_ANY>CL_TYPE_ZIP", true).expect("parse");
        assert!(wild.matches(&[ClType::PosixTar, ClType::Zip]));
        assert!(!wild.matches(&[ClType::Zip]));
        let too_many = vec!["CL_TYPE_ZIP"; MAX_INTERMEDIATES + 1].join(">");
        assert!(ContainerCond::parse(&too_many, true).is_err());
        assert!(ContainerCond::parse("CL_TYPE_ZIP>>CL_TYPE_RAR", true).is_err());
    }
}
