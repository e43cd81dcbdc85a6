//! Serves the same `App` to a browser over dioxus-liveview on 127.0.0.1, for the browser
//! tests and for trying the app at a phone-sized viewport.
//!
//! `sotay-liveview --db PATH [--port N]` prints `listening on http://127.0.0.1:PORT` once
//! it accepts connections (port 0 picks a free one).
//!
//! The websocket drives the whole app (its records, names and phone numbers), so only the
//! page this server serves may open it: a handshake whose `Origin` is not exactly
//! `http://127.0.0.1:PORT` is refused with 403, which keeps out other web pages the same
//! browser has open (a page elsewhere, or a name that resolves to 127.0.0.1).

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use dioxus::prelude::*;
use dioxus_liveview::{axum_socket, interpreter_glue, LiveViewPool};
use sotay::ui::{App, AppConfig};

fn page() -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sổ tay</title>
</head>
<body><div id="main"></div>{}</body>
</html>"#,
        interpreter_glue("/ws")
    ))
}

#[tokio::main]
async fn main() {
    sotay::platform::quiet_panics();
    let mut args = std::env::args().skip(1);
    let mut db = sotay::platform::default_db_path();
    let mut port: u16 = 0;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--db" => db = args.next().expect("--db PATH").into(),
            "--port" => port = args.next().and_then(|p| p.parse().ok()).expect("--port N"),
            other => {
                eprintln!("unknown argument {other}; usage: sotay-liveview --db PATH [--port N]");
                std::process::exit(2);
            }
        }
    }
    let config = AppConfig::new(db);
    let pool = LiveViewPool::new();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind 127.0.0.1");
    let local = listener.local_addr().expect("local address");
    let origin = format!("http://{local}");
    let app = Router::new().route("/", get(|| async { page() })).route(
        "/ws",
        get(move |headers: HeaderMap, ws: axum::extract::WebSocketUpgrade| {
            let pool = pool.clone();
            let config = config.clone();
            let same_origin = headers.get(header::ORIGIN).is_some_and(|o| o.as_bytes() == origin.as_bytes());
            async move {
                if !same_origin {
                    return (StatusCode::FORBIDDEN, "only the page served here may connect").into_response();
                }
                ws.on_upgrade(move |socket| async move {
                    let _ = pool
                        .launch_virtualdom(axum_socket(socket), move || VirtualDom::new(App).with_root_context(config))
                        .await;
                })
                .into_response()
            }
        }),
    );
    println!("listening on http://{local}");
    axum::serve(listener, app).await.expect("serve");
}
