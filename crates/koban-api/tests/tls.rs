//! HTTPS served directly with rustls when a certificate is configured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use koban_service::{Config, Koban, SystemClock};
use koban_store::SqliteSync;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_only_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).unwrap();

    let url = format!("sqlite://{}", dir.path().join("koban.sqlite3").display());
    let store = koban_store::connect(&url, SqliteSync::Normal)
        .await
        .unwrap();
    let koban = Koban::open(store, dir.path(), Arc::new(SystemClock), Config::default())
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let app = koban_api::router(koban, koban_api::RateLimit::default());
    let tls = koban_api::TlsFiles {
        cert: cert_path,
        key: key_path,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(koban_api::serve(listener, app, Some(tls), async move {
        let _ = stopped.await;
    }));

    // A client that trusts exactly this certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut response = Vec::new();
    for _ in 0..50 {
        // The TLS listener starts asynchronously; retry briefly until it accepts.
        let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let version = tls.get_ref().1.protocol_version().unwrap();
        assert!(
            matches!(
                version,
                rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2
            ),
            "{version:?}"
        );
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        tls.read_to_end(&mut response).await.unwrap();
        break;
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"ok\""), "{text}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut plain = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut plain),
    )
    .await;
    assert!(!String::from_utf8_lossy(&plain).contains("200 OK"));

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
