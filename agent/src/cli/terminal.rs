//! How the command line meets the terminal: colour, the journal, and the
//! parser that adds each subcommand's examples to its `--help`.

use super::{examples, Cli};

/// Whether to colour what goes to stderr: only on a terminal, and never
/// when `NO_COLOR` is set to anything but the empty string (no-color.org).
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Whether stderr is the journal's stream (systemd sets `JOURNAL_STREAM`
/// to the `device:inode` of the stream it connects; a process whose stderr
/// was redirected since is not writing to the journal).
pub fn stderr_is_journal(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stderr) {
        (Ok(d), Ok(i), Some(s)) => (d, i) == s,
        // Cannot tell: trust the variable.
        (Ok(_), Ok(_), None) => true,
        _ => false,
    }
}

/// The command line with each subcommand's examples after its `--help`.
pub fn command() -> clap::Command {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for (path, _) in examples::EXAMPLES {
        let Some(text) = examples::help_text(path) else {
            continue;
        };
        let mut parts = path.split(' ');
        let first = parts.next().unwrap_or_default().to_owned();
        let second = parts.next().map(str::to_owned);
        cmd = cmd.mut_subcommand(first, |sub| match &second {
            Some(s) => sub.mut_subcommand(s, |leaf| leaf.after_help(text.clone())),
            None => sub.after_help(text.clone()),
        });
    }
    cmd
}

/// Parses the process's arguments with [`command`] (examples in --help).
pub fn parse() -> Cli {
    use clap::FromArgMatches as _;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn no_color_turns_colour_off_unless_empty() {
        assert!(colour(true, None));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(false, None));
    }

    #[test]
    fn the_journal_is_recognised_by_its_stream() {
        assert!(stderr_is_journal(Some("8:1234"), Some((8, 1234))));
        assert!(!stderr_is_journal(Some("8:1234"), Some((8, 99))));
        assert!(stderr_is_journal(Some("8:1234"), None));
        assert!(!stderr_is_journal(None, Some((8, 1234))));
        assert!(!stderr_is_journal(Some("junk"), None));
    }

    #[test]
    fn quiet_is_global() {
        use clap::Parser as _;
        let c = Cli::try_parse_from(["restoreproof", "drill", "d", "--quiet"]).expect("parses");
        assert!(c.quiet);
        let c = Cli::try_parse_from(["restoreproof", "-q", "status"]).expect("parses");
        assert!(c.quiet);
        assert!(Cli::try_parse_from(["restoreproof", "-q", "-v", "status"]).is_err());
    }
}
