//! A TCP proxy that breaks connections on purpose, for the sync fault tests: resets while
//! the request is being sent or the reply received, replies lost after the server
//! committed, and stalls. Everything stays on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass everything through.
    None,
    /// Forward only part of the request, then drop both sides.
    ResetWhileSending,
    /// Forward the request, then only part of the reply, then drop both sides.
    ResetWhileReceiving,
    /// Forward the request, wait until the server answers (it has committed), drop the
    /// answer and the connection.
    LoseReply,
    /// Hold the request for this many milliseconds before forwarding it.
    Stall(u64),
}

pub struct Proxy {
    pub url: String,
    fault: Arc<Mutex<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fault = Arc::new(Mutex::new(Fault::None));
        let f = fault.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let fault = *f.lock().unwrap();
                tokio::spawn(handle(client, upstream, fault));
            }
        });
        Proxy { url, fault, task }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

async fn handle(mut client: TcpStream, upstream: std::net::SocketAddr, fault: Fault) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    let cut = rand::thread_rng().gen_range(1..400usize);
    match fault {
        Fault::None => {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Fault::Stall(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Fault::ResetWhileSending => {
            let mut buf = vec![0u8; cut];
            if let Ok(n) = client.read(&mut buf).await {
                let _ = server.write_all(&buf[..n.min(cut)]).await;
            }
            // Dropping both streams closes them mid-request.
        }
        Fault::ResetWhileReceiving | Fault::LoseReply => {
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            // The request goes through in full.
            let up = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
            });
            let mut buf = vec![0u8; 64 * 1024];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), sr.read(&mut buf)).await {
                if fault == Fault::ResetWhileReceiving {
                    let _ = cw.write_all(&buf[..n.min(cut)]).await;
                }
            }
            up.abort();
            // Both halves drop here: the client never gets (all of) the answer.
        }
    }
}
