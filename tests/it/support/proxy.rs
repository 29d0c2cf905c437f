//! A TCP proxy on a free loopback port that the test can cut (a network partition: bytes stop flowing both ways, connections stay open, new ones are held) and restore.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Forwards every connection to `target` while not cut. Stops (and drops every connection)
/// when dropped.
pub struct Proxy {
    address: SocketAddr,
    cut: watch::Sender<bool>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let address = listener.local_addr().unwrap();
        let (cut, cut_rx) = watch::channel(false);
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let accept_tasks = tasks.clone();
        let accept_stop = stop.clone();
        tasks.spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = accept_stop.cancelled() => return,
                };
                let (cut, stop) = (cut_rx.clone(), accept_stop.clone());
                accept_tasks.spawn(async move {
                    tokio::select! {
                        _ = forward(client, target, cut) => {}
                        _ = stop.cancelled() => {}
                    }
                });
            }
        });
        Proxy {
            address,
            cut,
            stop,
            tasks,
        }
    }

    /// Where clients connect instead of the target.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The partition begins: nothing gets through either way until [`Proxy::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.tasks.close();
    }
}

/// Waits while the link is cut.
async fn open(cut: &mut watch::Receiver<bool>) {
    let _ = cut.wait_for(|cut| !*cut).await;
}

async fn forward(client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    open(&mut cut).await;
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up_cut = cut.clone();
    let up = async move {
        let mut cut = up_cut;
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            open(&mut cut).await;
            if server_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            open(&mut cut).await;
            if client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
