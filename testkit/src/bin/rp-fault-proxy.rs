//! Standalone fault-injecting proxy for the demo: forwards to an S3 server
//! and corrupts the bodies of chosen GETs.
//!
//! Usage: rp-fault-proxy --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
//!        [--flip NEEDLE]... [--truncate NEEDLE]... [--status-503 NEEDLE]...

use restoreproof_testkit::{Fault, FaultProxy, Rule};
use std::net::SocketAddr;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen: Option<SocketAddr> = None;
    let mut upstream: Option<SocketAddr> = None;
    let mut rules = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--listen" => listen = Some(value()?.parse()?),
            "--upstream" => upstream = Some(value()?.parse()?),
            "--flip" => rules.push(Rule::get(value()?, Fault::FlipByte(0))),
            "--truncate" => rules.push(Rule::get(value()?, Fault::Truncate(1))),
            "--status-503" => rules.push(Rule::get(value()?, Fault::Status(503, "SlowDown"))),
            other => {
                anyhow::bail!("unknown argument {other}; see the file's doc comment for usage")
            }
        }
    }
    let listen = listen.ok_or_else(|| anyhow::anyhow!("--listen ADDR is required"))?;
    let upstream = upstream.ok_or_else(|| anyhow::anyhow!("--upstream ADDR is required"))?;
    let proxy = FaultProxy::start(listen, upstream).await?;
    for r in rules {
        proxy.add(r);
    }
    eprintln!("rp-fault-proxy listening on {} -> {upstream}", proxy.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
