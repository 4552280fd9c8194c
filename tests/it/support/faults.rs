//! A fault-injecting TCP proxy between the adapter and PostgreSQL.
//!
//! It forwards frontend messages one by one (like [`super::wire`]) and can, at the `n`-th
//! frontend message after [`FaultProxy::arm`], *stall* that connection (the message and
//! everything after it is held, nothing comes back), *cut* it (a clean close of both sides) or
//! *reset* it (an RST to the client). It can also stall every new connection (an unreachable
//! server) and cut every open connection at once (a server restart or a network drop).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio_postgres::config::Host;

/// What happens to the connection that sends the triggering message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Hold the message and everything after it; send nothing back. The sockets stay open.
    Stall,
    /// Close both sides cleanly before forwarding the message.
    Cut,
    /// Close the client side with an RST before forwarding the message.
    Reset,
}

#[derive(Default)]
struct Control {
    /// `(fault, messages to let through first)`.
    armed: Mutex<Option<(Fault, u64)>>,
    fired: AtomicU64,
    stall_new: AtomicBool,
    accepted: AtomicU64,
    messages: AtomicU64,
}

impl Control {
    /// Whether this frontend message triggers the armed fault.
    fn check(&self) -> Option<Fault> {
        self.messages.fetch_add(1, Ordering::SeqCst);
        let mut armed = self.armed.lock().unwrap();
        match armed.as_mut() {
            Some((fault, 0)) => {
                let fault = *fault;
                *armed = None;
                self.fired.fetch_add(1, Ordering::SeqCst);
                Some(fault)
            }
            Some((_, left)) => {
                *left -= 1;
                None
            }
            None => None,
        }
    }
}

/// A proxy on 127.0.0.1 forwarding to the database at a connection string.
pub struct FaultProxy {
    /// A connection string for the same database, through the proxy.
    pub url: String,
    control: Arc<Control>,
    cut_all: watch::Sender<u64>,
}

impl FaultProxy {
    /// Starts the proxy on the current runtime, forwarding to `url`'s host (TCP or socket).
    pub async fn start(url: &str) -> FaultProxy {
        let (config, host, port) = super::wire::upstream(url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let local = listener.local_addr().expect("proxy address");
        let control = Arc::new(Control::default());
        let (cut_all, cuts) = watch::channel(0u64);
        let task_control = control.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let control = task_control.clone();
                control.accepted.fetch_add(1, Ordering::SeqCst);
                let host = host.clone();
                let cuts = cuts.clone();
                tokio::spawn(async move {
                    if control.stall_new.load(Ordering::SeqCst) {
                        // Accept, then never answer: the client's login hangs.
                        let _held = client;
                        return std::future::pending::<()>().await;
                    }
                    match host {
                        Host::Tcp(name) => {
                            if let Ok(server) = TcpStream::connect((name.as_str(), port)).await {
                                serve(client, server, control, cuts).await;
                            }
                        }
                        Host::Unix(dir) => {
                            let path = dir.join(format!(".s.PGSQL.{port}"));
                            if let Ok(server) = UnixStream::connect(path).await {
                                serve(client, server, control, cuts).await;
                            }
                        }
                    }
                });
            }
        });
        FaultProxy {
            url: super::wire::proxied_url(&config, local.port()),
            control,
            cut_all,
        }
    }

    /// Fires `fault` on the connection that sends the `after`-th frontend message from now
    /// (0: the next one).
    pub fn arm(&self, fault: Fault, after: u64) {
        *self.control.armed.lock().unwrap() = Some((fault, after));
    }

    /// Disarms a fault that has not fired; returns whether one had fired since the last call.
    pub fn disarm(&self) -> bool {
        *self.control.armed.lock().unwrap() = None;
        self.control.fired.swap(0, Ordering::SeqCst) > 0
    }

    /// New connections are accepted but never answered (or, with `false`, work again).
    pub fn stall_new(&self, stall: bool) {
        self.control.stall_new.store(stall, Ordering::SeqCst);
    }

    /// Cuts every open connection, stalled ones included.
    pub fn cut_all(&self) {
        self.cut_all.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.control.accepted.load(Ordering::SeqCst)
    }

    /// Frontend messages seen so far (startup messages excluded).
    pub fn messages(&self) -> u64 {
        self.control.messages.load(Ordering::SeqCst)
    }
}

async fn serve<S>(
    mut client: TcpStream,
    server: S,
    control: Arc<Control>,
    mut cuts: watch::Receiver<u64>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    cuts.mark_unchanged();
    let (mut server_read, mut server_write) = tokio::io::split(server);
    let fault = {
        let (mut client_read, mut client_write) = client.split();
        let upstream = async {
            // The startup message has no type byte: a length, then the body. Answers to an
            // SSL request ('N') come back through the downstream copy.
            let mut length = [0u8; 4];
            client_read.read_exact(&mut length).await?;
            let mut body = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4)];
            client_read.read_exact(&mut body).await?;
            server_write.write_all(&length).await?;
            server_write.write_all(&body).await?;
            loop {
                let mut header = [0u8; 5];
                client_read.read_exact(&mut header).await?;
                let length =
                    u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
                let mut body = vec![0u8; length.saturating_sub(4)];
                client_read.read_exact(&mut body).await?;
                if let Some(fault) = control.check() {
                    return Ok::<Option<Fault>, std::io::Error>(Some(fault));
                }
                server_write.write_all(&header).await?;
                server_write.write_all(&body).await?;
            }
        };
        let downstream = async {
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                let n = server_read.read(&mut buffer).await?;
                if n == 0 {
                    return Ok::<(), std::io::Error>(());
                }
                client_write.write_all(&buffer[..n]).await?;
            }
        };
        tokio::select! {
            fault = upstream => fault.unwrap_or(None),
            _ = downstream => None,
            _ = cuts.changed() => Some(Fault::Cut),
        }
    };
    match fault {
        Some(Fault::Stall) => {
            // Keep both sockets open and silent until everything is cut.
            let _ = cuts.changed().await;
        }
        Some(Fault::Reset) => {
            #[allow(deprecated)]
            let _ = client.set_linger(Some(Duration::ZERO));
        }
        Some(Fault::Cut) | None => {
            let _ = client.shutdown().await;
        }
    }
    let _ = server_write.shutdown().await;
}
