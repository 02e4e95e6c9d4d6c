//! `restoreproof manpage`: restoreproof(1), and with `--dir` a page per
//! subcommand (restoreproof-drill(1), restoreproof-evidence-verify(1), ...)
//! as the packages install them. Each page has the subcommand's synopsis,
//! description and options from the CLI definition, its EXAMPLES, and the
//! main page also ENVIRONMENT, EXIT STATUS, FILES and SEE ALSO.

use crate::cli::examples::{ENVIRONMENT, EXAMPLES};
use std::fmt::Write as _;

/// Text as roff: backslashes and leading dots or quotes escaped.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with(['.', '\'']) {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A page's EXAMPLES section, when the table has any.
fn examples(path: &str) -> String {
    let Some((_, list)) = EXAMPLES.iter().find(|(p, _)| *p == path) else {
        return String::new();
    };
    let mut o = String::from(".SH EXAMPLES\n");
    for (cmd, what) in *list {
        let _ = write!(o, ".TP\n.B {}\n{}\n", roff(cmd), roff(what));
    }
    o
}

fn environment() -> String {
    let mut o = String::from(".SH ENVIRONMENT\n");
    for (var, what) in ENVIRONMENT {
        let _ = write!(o, ".TP\n.B {}\n{}\n", roff(var), roff(what));
    }
    o
}

/// One page: clap_mangen's sections, then the examples (and `tail`).
fn page(cmd: clap::Command, path: &str, tail: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    out.extend_from_slice(examples(path).as_bytes());
    out.extend_from_slice(tail.as_bytes());
    Ok(out)
}

/// Every page: (file name, roff). The subcommands' pages are named as the
/// main page's SUBCOMMANDS section names them.
///
/// # Errors
/// When a page cannot be rendered.
pub fn pages(main_tail: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    // Without the examples --help shows after each command: the pages have
    // an EXAMPLES section of their own.
    let mut root =
        <crate::cli::Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    root.build();
    let mut out = vec![(
        "restoreproof.1".to_owned(),
        page(root.clone(), "", &(environment() + main_tail))?,
    )];
    let see_also = ".SH \"SEE ALSO\"\n\\fBrestoreproof\\fR(1)\n";
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_owned();
        // `build` named each subcommand `restoreproof-NAME` for display.
        out.push((
            format!("restoreproof-{name}.1"),
            page(sub.clone(), &name, see_also)?,
        ));
        for leaf in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            let leaf_name = leaf.get_name();
            let path = format!("{name} {leaf_name}");
            out.push((
                format!("restoreproof-{name}-{leaf_name}.1"),
                page(leaf.clone(), &path, see_also)?,
            ));
        }
    }
    Ok(out)
}
