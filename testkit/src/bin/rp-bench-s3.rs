//! A read-only S3 server for benchmarks; see
//! [`restoreproof_testkit::bench_s3`].
//!
//! Usage: rp-bench-s3 --root DIR --listen 127.0.0.1:PORT
//!          [--synthetic VERSIONS --page-delay-ms MS]
//!        rp-bench-s3 --hash-rate   (this machine's one-pass MD5 + SHA-256
//!                                   rate on one core, in MB/s)

use restoreproof_testkit::bench_s3::{hash_rate, BenchS3, Synthetic};
use std::net::SocketAddr;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut root: Option<PathBuf> = None;
    let mut listen: Option<SocketAddr> = None;
    let mut synthetic = Synthetic::default();
    while let Some(a) = args.next() {
        if a == "--hash-rate" {
            hash_rate();
            return Ok(());
        }
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--root" => root = Some(value()?.into()),
            "--listen" => listen = Some(value()?.parse()?),
            "--synthetic" => synthetic.versions = value()?.parse()?,
            "--page-delay-ms" => {
                synthetic.page_delay = std::time::Duration::from_millis(value()?.parse()?);
            }
            other => anyhow::bail!(
                "unknown argument {other}; usage: rp-bench-s3 --root DIR --listen ADDR"
            ),
        }
    }
    let root = root.ok_or_else(|| anyhow::anyhow!("--root DIR is required"))?;
    let listen = listen.ok_or_else(|| anyhow::anyhow!("--listen ADDR is required"))?;
    let server = BenchS3::start_with(&root, listen, synthetic).await?;
    eprintln!("rp-bench-s3 serving {} on {}", root.display(), server.url());
    std::future::pending::<()>().await;
    Ok(())
}
