//! A minimal samod sync server, as samod's own docs set one up: a `Repo`
//! on `TokioFilesystemStorage`, every peer read-write, WebSocket via axum.
//! Like automerge-repo's Node sync server (share policy `false`), it
//! announces nothing and answers what peers ask for: samod's default
//! announces every loaded document to every peer, which makes a server
//! with many peers do work for peers that never asked.
//! `make bench-compare` runs it beside our Worker and the Node server.
//!
//!   samod-bench-server <port> <data-dir>
//!
//! Prints `listening <port>` once it accepts connections.

use axum::{extract::ws::WebSocketUpgrade, routing::get, Router};
use samod::{storage::TokioFilesystemStorage, PeerId, Repo, ShareConfig};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: samod-bench-server <port> <data-dir>");
    let dir = args.next().expect("usage: samod-bench-server <port> <data-dir>");

    let repo = Repo::build_tokio()
        .with_peer_id(PeerId::from("samod-bench-server"))
        .with_storage(TokioFilesystemStorage::new(&dir))
        .with_share_policy(ShareConfig::read_write().with_announce(false))
        .load()
        .await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let url: url::Url = format!("ws://127.0.0.1:{port}/").parse().expect("url");
    let acceptor = repo.make_acceptor(url).expect("acceptor");
    let app = Router::new().route(
        "/",
        get(move |upgrade: WebSocketUpgrade| {
            let acceptor = acceptor.clone();
            async move {
                upgrade
                    .max_message_size(64 << 20)
                    .on_upgrade(move |socket| async move {
                        let _ = acceptor.accept_axum(socket, None);
                    })
            }
        }),
    );
    println!("listening {port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
    repo.stop().await;
}
