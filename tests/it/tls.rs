//! TLS through rustls: a local PostgreSQL with `ssl = on` and a certificate made here.

use std::net::TcpListener;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustauth_core::db::{DbAdapter, DbValue, FindOne, Where};
use rustauth_tokio_postgres::rustls::{ClientConfig, RootCertStore};
use rustauth_tokio_postgres::tokio_postgres_rustls::MakeRustlsConnect;
use rustauth_tokio_postgres::{
    ErrorKind, RoutePolicy, TokioPostgresAdapter, TokioPostgresConnection,
};

use crate::fixtures::{create_user, default_schema};
use crate::support::connect;
use crate::support::throwaway_pg::ThrowawayPostgres;

/// A server listening on 127.0.0.1 with TLS, and the CA certificate that signed its own.
struct TlsServer {
    cluster: ThrowawayPostgres,
    ca_der: Vec<u8>,
}

impl TlsServer {
    fn start() -> TlsServer {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nssl = on\n\
             ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
        );
        let cluster = ThrowawayPostgres::start_with_config(
            &conf,
            &[
                ("server.crt", server_cert.pem().as_bytes()),
                ("server.key", server_key.serialize_pem().as_bytes()),
            ],
        )
        .unwrap_or_else(|e| panic!("TLS server: {e}"));
        TlsServer {
            cluster,
            ca_der: ca_cert.der().to_vec(),
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
            self.cluster.port()
        )
    }

    fn tls(&self, trusted: bool) -> MakeRustlsConnect {
        let mut roots = RootCertStore::empty();
        if trusted {
            roots.add(self.ca_der.clone().into()).unwrap();
        }
        MakeRustlsConnect::new(
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// An adapter on one client connected over verified TLS.
    async fn single_client(&self) -> TokioPostgresAdapter {
        let connection = TokioPostgresConnection::connect_tls(&self.url(), self.tls(true))
            .await
            .unwrap();
        TokioPostgresAdapter::with_policy(connection, default_schema(), RoutePolicy::Auto)
    }

    /// Creates the tables over the unix socket (no TLS) and returns that admin client.
    async fn migrated_admin(&self) -> tokio_postgres::Client {
        let admin = connect(&self.cluster.url("postgres")).await;
        for sql in [
            include_str!("../../migrations/0001_core_tables.sql"),
            include_str!("../../migrations/0002_account_provider_lookup.sql"),
        ] {
            admin.batch_execute(sql).await.unwrap();
        }
        admin
    }
}

/// Whether every TCP client backend uses TLS, and how many there are.
async fn tcp_backends_over_ssl(admin: &tokio_postgres::Client) -> (i64, bool) {
    let row = admin
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) \
             WHERE a.client_addr IS NOT NULL AND a.backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn sign_up_and_find(adapter: &TokioPostgresAdapter) {
    create_user(adapter, "u-tls", "tls@example.com", 0).await;
    let found = adapter
        .find_one(FindOne::new("user").where_clause(Where::new(
            "email",
            DbValue::String("tls@example.com".into()),
        )))
        .await
        .unwrap();
    assert!(found.is_some());
}

#[tokio::test]
async fn a_single_client_signs_up_over_verified_tls() {
    let server = TlsServer::start();
    let admin = server.migrated_admin().await;
    let adapter = server.single_client().await;
    sign_up_and_find(&adapter).await;
    assert_eq!(adapter.route_counts().1, 0, "both ran typed");
    assert_eq!(tcp_backends_over_ssl(&admin).await, (1, true));
}

#[tokio::test]
async fn a_lost_tls_client_reconnects_over_tls() {
    let server = TlsServer::start();
    let admin = server.migrated_admin().await;
    let adapter = server.single_client().await;
    sign_up_and_find(&adapter).await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE client_addr IS NOT NULL AND backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..3 {
        let query = FindOne::new("user").where_clause(Where::new(
            "email",
            DbValue::String("tls@example.com".into()),
        ));
        if adapter
            .find_one(query)
            .await
            .is_ok_and(|found| found.is_some())
        {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the client reconnected");
    assert_eq!(adapter.connection().reconnect_count(), Some(1));
    assert_eq!(
        tcp_backends_over_ssl(&admin).await,
        (1, true),
        "still over TLS"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let server = TlsServer::start();
    let error = TokioPostgresConnection::connect_tls(&server.url(), server.tls(false))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error:?}");
}

#[cfg(feature = "deadpool")]
#[tokio::test]
async fn a_pool_signs_up_over_tls() {
    let server = TlsServer::start();
    let admin = server.migrated_admin().await;
    let connection = TokioPostgresConnection::connect_pool_tls(
        &server.url(),
        rustauth_tokio_postgres::PoolOptions::default(),
        server.tls(true),
    )
    .unwrap();
    let adapter =
        TokioPostgresAdapter::with_policy(connection, default_schema(), RoutePolicy::Auto);
    sign_up_and_find(&adapter).await;
    let (backends, all_ssl) = tcp_backends_over_ssl(&admin).await;
    assert!(
        backends >= 1 && all_ssl,
        "{backends} backends, all ssl: {all_ssl}"
    );
}
