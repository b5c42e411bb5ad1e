//! `carnet_server::serve` as a process the harnesses can `kill -9`: the same
//! library call the `carnet-server serve` command makes, with the address it
//! bound printed on stdout (`LISTEN 127.0.0.1:PORT`) so that port 0 works.
//!
//! `carnet-test-server --data DIR --listen ADDR [--rate PER_SECOND]
//! [--database URL [--database-pool N]] [--trusted-proxy]`
//!
//! With `--database` it serves from PostgreSQL as `carnet-server serve
//! --database` does (DIR then holds only the instance's `dashboard.db`), so
//! that several instances share the teams.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let data = get("--data").expect("--data DIR");
    let listen: SocketAddr = get("--listen")
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .expect("--listen ADDR");
    let mut config = carnet_server::Config {
        data_dir: data.into(),
        listen,
        ..Default::default()
    };
    if let Some(r) = get("--rate") {
        config.rate_per_second = r.parse().expect("--rate");
    }
    config.database = get("--database");
    if let Some(n) = get("--database-pool") {
        config.database_pool = n.parse().expect("--database-pool");
    }
    config.trusted_proxy = args.iter().any(|a| a == "--trusted-proxy");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        println!("LISTEN {}", listener.local_addr().expect("addr"));
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        if let Err(e) = carnet_server::serve(listener, config, shutdown).await {
            eprintln!("serve: {e}");
            std::process::exit(1);
        }
    });
}
