//! TLS through rustls (feature `rustls`).
//!
//! The caller builds the [`rustls::ClientConfig`] (root certificates, client certificates for
//! mutual TLS) and wraps it in a [`MakeRustlsConnect`]; this crate only hands it to the driver.
//! Whether TLS is required follows the URL's `sslmode` (`prefer` by default: TLS when the
//! server offers it; use `sslmode=require` so a server without TLS is refused).

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::connection::{Origin, Tls, TokioPostgresConnection};
use crate::error::Result;

impl TokioPostgresConnection {
    /// Connects one client to `url` over TLS and spawns its driver task.
    ///
    /// The server's certificate is checked against the roots of `tls`'s
    /// [`rustls::ClientConfig`], for the host named in the URL. Like
    /// [`connect`](Self::connect), the client reconnects by itself after losing its connection,
    /// with the same connector (never without TLS), bounded by the connect timeout.
    ///
    /// ```no_run
    /// # async fn run(ca_der: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    /// use rustauth_tokio_postgres::rustls::{ClientConfig, RootCertStore};
    /// use rustauth_tokio_postgres::tokio_postgres_rustls::MakeRustlsConnect;
    /// use rustauth_tokio_postgres::{TokioPostgresAdapter, TokioPostgresConnection};
    ///
    /// let mut roots = RootCertStore::empty();
    /// roots.add(ca_der.into())?;
    /// let config = ClientConfig::builder()
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let url = "postgres://app@db.example.com/app?sslmode=require";
    /// let connection =
    ///     TokioPostgresConnection::connect_tls(url, MakeRustlsConnect::new(config)).await?;
    /// let adapter = TokioPostgresAdapter::with_connection(
    ///     connection,
    ///     rustauth_core::db::auth_schema(Default::default()),
    /// );
    /// # let _ = adapter;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Connection`](crate::ErrorKind::Connection) when the server cannot be
    /// reached, the TLS handshake fails (for example an untrusted certificate, or a server
    /// without TLS under `sslmode=require`) or the login is rejected.
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub async fn connect_tls(url: &str, tls: MakeRustlsConnect) -> Result<Self> {
        Self::open(Origin::new(url, None, Tls::Rustls(tls))?).await
    }

    /// Creates a pool for `url` whose connections use TLS, with the options of
    /// [`connect_pool`](Self::connect_pool).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an invalid URL; connection and
    /// handshake errors surface on first use.
    #[cfg(feature = "deadpool")]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "rustls", feature = "deadpool"))))]
    pub fn connect_pool_tls(
        url: &str,
        options: crate::PoolOptions,
        tls: MakeRustlsConnect,
    ) -> Result<Self> {
        Ok(Self::from_pool(crate::pool::build(url, options, tls)?)
            .with_statement_timeout(options.statement_timeout))
    }
}
