//! A stand-in HTTP server on a loopback port that answers every request with one fixed reply, or never answers: for the ways a tracker can fail.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A stand-in tracker on a loopback port: it answers every request with one fixed reply, or
/// never answers at all. Stopped when dropped.
pub struct StandIn {
    pub address: SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

impl StandIn {
    pub async fn answering(reply: String) -> StandIn {
        StandIn::serve(Some(reply)).await
    }

    pub async fn silent() -> StandIn {
        StandIn::serve(None).await
    }

    async fn serve(reply: Option<String>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let address = listener.local_addr().expect("stand-in address");
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            // Held open without a word when silent.
            let mut held: Vec<TcpStream> = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match &reply {
                    None => held.push(stream),
                    Some(reply) => {
                        read_request_head(&mut stream).await;
                        let _ = stream.write_all(reply.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                }
            }
        });
        StandIn {
            address,
            accepted,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads until the blank line that ends a request's head (GET requests have no body).
async fn read_request_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
}
