#!/usr/bin/env bash
# Writes the bulwark(8) man page to standard output. The COMMANDS section is the binary's own
# --help text for every subcommand (walked recursively), so the page cannot disagree with the
# program; the other sections are the operations guide in brief.
#
#   packaging/gen-man.sh [BINARY] > bulwark.8        (default BINARY: target/release/bulwark)
set -euo pipefail
bin="${1:-target/release/bulwark}"
version="$("$bin" --version | awk '{print $2}')"
date="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)"

# roff-escape preformatted text: backslashes, and leading dots or quotes.
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }

# The subcommands listed under "Commands:" in a help text (without "help").
subcommands() {
  awk '/^Commands:/{on=1; next} on && /^[^ ]/{on=0} on && /^  [a-z]/{print $1}' | grep -vx help || true
}

section() { # $1: words of the command after "bulwark"
  local words="$1" help
  # shellcheck disable=SC2086
  help="$("$bin" $words --help)"
  printf '.SS "bulwark %s"\n.nf\n' "$words"
  printf '%s\n' "$help" | esc
  printf '.fi\n'
  local sub
  for sub in $(printf '%s\n' "$help" | subcommands); do section "$words $sub"; done
}

cat <<HEAD
.TH BULWARK 8 "$date" "bulwark $version" "System Administration"
.SH NAME
bulwark \- anti-virus ICAP server for HTTP proxies
.SH SYNOPSIS
.B bulwark serve
.RB [ \-\-config
.IR FILE ]
.RB [ \-\-listen
.IR ADDR:PORT ]...
.RB [ \-\-database
.IR PATH ]...
.br
.B bulwark ctl
.IR status | reload | reload\-db | stats | stop
.RB [ \-\-config
.IR FILE ]
.br
.B bulwark config
.IR check | show | import " ..."
.br
.B bulwark scan
.RI [ OPTIONS ] " PATH" ...
.br
.B bulwark db info
.I DIR
.br
.B bulwark squid
.IR snippet | apply " ..."
.br
.B bulwark license
.RI ...
.SH DESCRIPTION
Bulwark is an anti\-virus ICAP server (RFC 3507). Squid, or any ICAP client, hands it the
objects users download (RESPMOD) and upload (REQMOD); Bulwark scans them as they stream, with
ClamAV signature databases, and answers with the object or a block page.
.PP
The Debian package runs
.B bulwark serve \-\-config /etc/bulwark/bulwark.toml
as the
.B bulwark
user under systemd (\fBbulwark.service\fR). \fBserve\fR, \fBctl\fR and \fBconfig show\fR
read \fB\-\-config\fR, else \fB\$BULWARK_CONFIG\fR, else /etc/bulwark/bulwark.toml when it
exists; with none of them the embedded defaults apply: ICAP on 127.0.0.1:1344, services
/av/respmod and /av/reqmod, the signatures of /var/lib/clamav when it holds ClamAV files, else
the built\-in EICAR signature only (with a warning).
.SH COMMANDS
HEAD
section ""
cat <<'TAIL'
.SH SIGNALS
.TP
.B SIGHUP
Reload the configuration, the signature databases and the TLS certificates
(\fBbulwark ctl reload\fR, \fBsystemctl reload bulwark\fR). A configuration or database that
does not load is refused and the old one keeps serving.
.TP
.B SIGUSR1
Reload the signature databases only (\fBbulwark ctl reload\-db\fR).
.TP
.B SIGUSR2
Write the counter statistics file and reopen the log files (\fBbulwark ctl stats\fR).
.TP
.BR SIGTERM ", " SIGINT
Stop accepting connections, let in\-flight transactions finish (up to
\fBserver.shutdown_grace_secs\fR) and exit.
.SH EXIT STATUS
\fBserve\fR: 0 after a clean stop, 2 when it cannot start (the reason is printed).
\fBscan\fR: 0 clean, 1 found, 2 error.
\fBctl\fR: 0 done, 1 refused by the server, 2 server not reachable, 3 not running.
\fBconfig check\fR: 0 valid (warnings allowed), 1 invalid.
.SH FILES
.TP
.I /etc/bulwark/bulwark.toml
The configuration; every key is listed, commented out, at its default.
.TP
.I /run/bulwark/control.sock\fR, \fI/run/bulwark/bulwark.pid
Control socket and pid file (\fBcontrol.socket\fR, \fBcontrol.pid_file\fR).
.TP
.I /var/lib/bulwark/license
Licence keys and the traffic counter (\fBlicense.dir\fR).
.TP
.I /var/log/bulwark
Report log, av.stats and counter.stats when \fB[log]\fR names files there; by default the
report log goes to standard error (the journal).
.TP
.I /var/lib/clamav
ClamAV signatures as freshclam keeps them, used when \fBengine.database\fR is unset; freshclam's
\fBOnUpdateExecute bulwark ctl reload\-db\fR makes the server pick up each update.
.SH ENVIRONMENT
.TP
.B BULWARK_CONFIG
The configuration file when \fB\-\-config\fR is not given (empty: the embedded defaults).
.TP
.B RUST_LOG
Overrides \fBlog.level\fR (e.g. \fBRUST_LOG=debug\fR).
.SH EXAMPLES
Check the configuration after editing it, then apply it without dropping connections:
.PP
.nf
.RS
bulwark config check /etc/bulwark/bulwark.toml && systemctl reload bulwark
.RE
.fi
.PP
Point the local Squid at Bulwark (prints the lines, then writes them into squid.conf, checked
with \fBsquid \-k parse\fR and restored if Squid rejects them):
.PP
.nf
.RS
bulwark squid snippet
bulwark squid apply \-\-squid\-conf /etc/squid/squid.conf && systemctl reload squid
.RE
.fi
.PP
Scan a directory as the server would, with ClamAV's database, printing infected files only:
.PP
.nf
.RS
bulwark scan \-r \-i \-d /var/lib/clamav /srv/uploads
.RE
.fi
.PP
See what the server is doing, and make it reload the signatures now:
.PP
.nf
.RS
bulwark ctl status
bulwark ctl reload\-db
.RE
.fi
.SH SEE ALSO
.BR squid (8),
.BR freshclam (1),
.BR systemctl (1),
/usr/share/doc/bulwark/operations.md,
/usr/share/doc/bulwark/configuration.md
TAIL
