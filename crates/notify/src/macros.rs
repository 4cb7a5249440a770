//! kav4proxy-style macro values of a message: the script's arguments and environment.

use crate::event::{Event, Message};

/// Longest value passed in one argument or variable; the JSON on stdin is never cut.
/// (Linux refuses a single argument over 128 KiB.)
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// The argument names, in order (`$1` … `$14`). After `shift`, `$1`…`$8` are the order of
/// Artica's kav4proxy `notify.sh`: action, verdict, URL, IP, virus, cured, suspicious, warn.
pub const ARG_NAMES: [&str; 14] = [
    "EVENT",
    "ACTION",
    "VERDICT",
    "URL",
    "CLIENT_ADDR",
    "VIRUS_LIST",
    "CURED_LIST",
    "SUSP_LIST",
    "WARN_LIST",
    "USER",
    "GROUP",
    "SIZE",
    "DETAIL",
    "REPEATS",
];

/// Names set in the environment only (each also with the `BULWARK_` prefix).
const ENV_ONLY: [&str; 4] = ["DATE", "PRODUCT", "DROPPED", "JSON_VERSION"];

/// The macro values of `msg`, in [`ARG_NAMES`] order. Fields that do not apply to the event
/// are empty strings, so every argument is always present.
pub fn args(msg: &Message) -> Vec<String> {
    let mut v: Vec<String> = vec![String::new(); ARG_NAMES.len()];
    v[0] = msg.event.kind().to_string();
    if let Event::Detection {
        status,
        threats,
        url,
        client,
        user,
        group,
        action,
        size,
    } = &msg.event
    {
        let list = threats.join(", ");
        let only = |s: &str| {
            if status.eq_ignore_ascii_case(s) {
                list.clone()
            } else {
                String::new()
            }
        };
        v[1] = action.clone();
        v[2] = status.clone();
        v[3] = url.clone();
        v[4] = client.map(|c| c.to_string()).unwrap_or_default();
        v[5] = list.clone();
        v[6] = only("CURED");
        v[7] = only("SUSPICIOUS");
        v[8] = only("WARNING");
        v[9] = user.clone().unwrap_or_default();
        v[10] = group.clone();
        v[11] = size.to_string();
    }
    v[12] = msg.event.detail();
    v[13] = msg.repeats.to_string();
    v.into_iter().map(|s| clean(&s)).collect()
}

/// The environment of the script: every argument as `BULWARK_<NAME>` and as kav4proxy's bare
/// `<NAME>` (`URL`, `CLIENT_ADDR`, `VIRUS_LIST`, `VERDICT`, `ACTION`…), plus `DATE`,
/// `PRODUCT`, `DROPPED` and `JSON_VERSION` (also prefixed). All are always set.
pub fn env(msg: &Message) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(2 * (ARG_NAMES.len() + ENV_ONLY.len()));
    let extra = [
        clean(&msg.time),
        clean(&msg.product),
        msg.dropped.to_string(),
        "1".to_string(),
    ];
    let names = ARG_NAMES.iter().chain(ENV_ONLY.iter());
    for (name, value) in names.zip(args(msg).into_iter().chain(extra)) {
        out.push((format!("BULWARK_{name}"), value.clone()));
        out.push((name.to_string(), value));
    }
    out
}

/// Makes a value safe for `execve`: no NUL bytes, at most [`MAX_VALUE_BYTES`].
fn clean(s: &str) -> String {
    let mut s = s.replace('\0', "");
    if s.len() > MAX_VALUE_BYTES {
        let mut end = MAX_VALUE_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection() -> Message {
        Message::new(
            Event::Detection {
                status: "SUSPICIOUS".into(),
                threats: vec!["Heur.A".into(), "Heur.B".into()],
                url: "http://x/\0a".into(),
                client: Some("10.1.2.3".parse().expect("ip")),
                user: None,
                group: "default".into(),
                action: "DENY".into(),
                size: 42,
            },
            3,
            1,
        )
    }

    #[test]
    fn detection_args_in_documented_order() {
        let a = args(&detection());
        assert_eq!(
            a,
            [
                "detection",
                "DENY",
                "SUSPICIOUS",
                "http://x/a",
                "10.1.2.3",
                "Heur.A, Heur.B",
                "",
                "Heur.A, Heur.B",
                "",
                "",
                "default",
                "42",
                "",
                "3"
            ]
        );
    }

    #[test]
    fn other_events_fill_detail_and_env_has_both_spellings() {
        let m = Message::new(
            Event::UpdateFailed {
                reason: "x".repeat(MAX_VALUE_BYTES + 10),
            },
            0,
            7,
        );
        let a = args(&m);
        assert_eq!(a[0], "update_failed");
        assert_eq!(a[12].len(), MAX_VALUE_BYTES);
        assert!(a[1..12].iter().all(String::is_empty));
        let e = env(&m);
        let get = |k: &str| e.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("BULWARK_EVENT"), Some("update_failed"));
        assert_eq!(get("URL"), Some(""));
        assert_eq!(get("BULWARK_DROPPED"), Some("7"));
        assert_eq!(get("PRODUCT"), Some("Bulwark"));
        assert_eq!(e.len(), 2 * 18);
    }
}
