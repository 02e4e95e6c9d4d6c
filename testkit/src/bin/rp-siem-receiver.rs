//! Runs the test harness's SIEM HTTP receiver (Splunk HEC, `_bulk`,
//! webhook) on a free loopback port for benchmarks; prints the URL, then
//! serves until stdin closes.
//!
//! `rp-siem-receiver [TOKEN]`

use restoreproof_testkit::siem::SiemReceiver;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let token = std::env::args().nth(1);
    let r = SiemReceiver::start(token.as_deref()).await?;
    println!("{}", r.url());
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    eprintln!(
        "received {} events in {} requests",
        r.arrivals().len(),
        r.requests()
    );
    Ok(())
}
