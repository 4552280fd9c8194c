//! A TCP proxy between a client and the server that counts PostgreSQL frontend messages
//! (shared by the tests and `benches/hot_paths.rs`).
//!
//! Each extended-protocol round trip ends with one `Sync` ('S') message, and each statement
//! preparation sends one `Parse` ('P'), so counting them measures round trips and prepares
//! exactly, from the wire, whatever the client library does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_postgres::config::Host;

/// Frontend message counts seen by a [`CountingProxy`].
#[derive(Debug, Default)]
pub struct WireCounts {
    parse: AtomicU64,
    named_parse: AtomicU64,
    close: AtomicU64,
    sync: AtomicU64,
    simple_query: AtomicU64,
}

impl WireCounts {
    /// Named or unnamed statements parsed.
    pub fn parses(&self) -> u64 {
        self.parse.load(Ordering::SeqCst)
    }

    /// Statements parsed under a name (prepared statements the server keeps).
    pub fn named_parses(&self) -> u64 {
        self.named_parse.load(Ordering::SeqCst)
    }

    /// Statement closes (tokio-postgres sends Close+Sync without waiting when a statement
    /// is dropped, so a round-trip count subtracts them).
    pub fn closes(&self) -> u64 {
        self.close.load(Ordering::SeqCst)
    }

    /// Named statements the server still holds: named parses minus closes.
    pub fn live_named_statements(&self) -> u64 {
        self.named_parses().saturating_sub(self.closes())
    }

    /// Round trips: extended-protocol syncs plus simple queries.
    pub fn round_trips(&self) -> u64 {
        self.sync.load(Ordering::SeqCst) + self.simple_query.load(Ordering::SeqCst)
    }
}

/// A proxy listening on 127.0.0.1, forwarding to the database at `url`.
pub struct CountingProxy {
    /// A connection string for the same database, through the proxy.
    pub url: String,
    /// What the proxy has counted so far.
    pub counts: Arc<WireCounts>,
}

/// The server a proxy forwards to: the parsed URL, its first host and its port.
pub fn upstream(url: &str) -> (tokio_postgres::Config, Host, u16) {
    let config: tokio_postgres::Config = url.parse().expect("url parses");
    let host = config.get_hosts().first().cloned().expect("url has a host");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (config, host, port)
}

/// A connection string for `config`'s database through a proxy on 127.0.0.1:`port`.
pub fn proxied_url(config: &tokio_postgres::Config, port: u16) -> String {
    let user = config.get_user().unwrap_or("postgres");
    let dbname = config.get_dbname().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(" password={}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("host=127.0.0.1 port={port} user={user} dbname={dbname}{password}")
}

impl CountingProxy {
    /// Starts the proxy on the current runtime.
    pub async fn start(url: &str) -> CountingProxy {
        let (config, host, port) = upstream(url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let local = listener.local_addr().expect("proxy address");
        let counts = Arc::new(WireCounts::default());
        let task_counts = counts.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counts = task_counts.clone();
                let host = host.clone();
                tokio::spawn(async move {
                    match host {
                        Host::Tcp(name) => {
                            if let Ok(server) = TcpStream::connect((name.as_str(), port)).await {
                                pipe(client, server, counts).await;
                            }
                        }
                        Host::Unix(dir) => {
                            let path = dir.join(format!(".s.PGSQL.{port}"));
                            if let Ok(server) = UnixStream::connect(path).await {
                                pipe(client, server, counts).await;
                            }
                        }
                    }
                });
            }
        });
        CountingProxy {
            url: proxied_url(&config, local.port()),
            counts,
        }
    }
}

async fn pipe<S>(client: TcpStream, server: S, counts: Arc<WireCounts>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = tokio::io::split(server);
    let upstream = async move {
        // The startup message has no type byte: a length, then the body.
        let mut length = [0u8; 4];
        client_read.read_exact(&mut length).await?;
        let mut body = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4)];
        client_read.read_exact(&mut body).await?;
        server_write.write_all(&length).await?;
        server_write.write_all(&body).await?;
        loop {
            let mut header = [0u8; 5];
            client_read.read_exact(&mut header).await?;
            match header[0] {
                b'P' => counts.parse.fetch_add(1, Ordering::SeqCst),
                b'S' => counts.sync.fetch_add(1, Ordering::SeqCst),
                b'Q' => counts.simple_query.fetch_add(1, Ordering::SeqCst),
                b'C' => counts.close.fetch_add(1, Ordering::SeqCst),
                _ => 0,
            };
            let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            let mut body = vec![0u8; length.saturating_sub(4)];
            client_read.read_exact(&mut body).await?;
            // A Parse body starts with the statement name; empty means unnamed.
            if header[0] == b'P' && body.first().is_some_and(|b| *b != 0) {
                counts.named_parse.fetch_add(1, Ordering::SeqCst);
            }
            server_write.write_all(&header).await?;
            server_write.write_all(&body).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    let downstream = async move { tokio::io::copy(&mut server_read, &mut client_write).await };
    let _ = tokio::join!(upstream, downstream);
}
