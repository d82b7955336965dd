//! `spanlite cert`: the certificates of a secure cluster, written into a
//! certs dir as `spanlite_directory::tls` reads them (CockroachDB's layout).
//!
//! ```text
//!   create-ca              ca.crt, ca.key        (the CA: 10 years)
//!   create-node HOST…      node.crt, node.key    (CN=node, HOSTs as SANs,
//!                                                 server and client auth)
//!   create-client USER     client.USER.crt/.key  (CN=USER, client auth)
//! ```
//!
//! Keys are written with mode 0600 and never overwritten (an existing file
//! is an error: replacing a CA by accident would lock every node out).
//! Certificates other than the CA's last 5 years.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use spanlite_directory::tls::{CA_CERT, CA_KEY, NODE_CERT, NODE_KEY, NODE_NAME, client_files};

/// Writes `contents` to a new file `path` with `mode`; refuses to replace
/// an existing file.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!(
                    "{} exists already; remove it first to replace it",
                    path.display()
                )
            }
            _ => format!("{}: {e}", path.display()),
        })?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn params(cn: &str, years: i32) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Spanlite");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    // From an hour ago (a node whose clock is a little behind must not find
    // a fresh certificate not yet valid) for `years` of 365 days.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .map_err(|e| format!("the system clock: {e}"))?;
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(365 * i64::from(years));
    Ok(p)
}

fn load_ca(certs_dir: &Path, ca_key: Option<&Path>) -> Result<Issuer<'static, KeyPair>, String> {
    let cert_path = certs_dir.join(CA_CERT);
    let key_path = ca_key.map_or_else(|| certs_dir.join(CA_KEY), Path::to_path_buf);
    let cert = std::fs::read_to_string(&cert_path).map_err(|e| {
        format!(
            "{}: {e} (spanlite cert create-ca first)",
            cert_path.display()
        )
    })?;
    let key =
        std::fs::read_to_string(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let key = KeyPair::from_pem(&key).map_err(|e| format!("{}: {e}", key_path.display()))?;
    Issuer::from_ca_cert_pem(&cert, key).map_err(|e| format!("{}: {e}", cert_path.display()))
}

/// `create-ca`: a new CA in `certs_dir` (its key at `ca_key`, or in the dir).
pub fn create_ca(certs_dir: &Path, ca_key: Option<&Path>) -> Result<(), String> {
    std::fs::create_dir_all(certs_dir).map_err(|e| format!("{}: {e}", certs_dir.display()))?;
    let mut p = params("Spanlite CA", 10)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = p.self_signed(&key).map_err(|e| e.to_string())?;
    let key_path = ca_key.map_or_else(|| certs_dir.join(CA_KEY), Path::to_path_buf);
    write_new(&key_path, &key.serialize_pem(), 0o600)?;
    write_new(&certs_dir.join(CA_CERT), &cert.pem(), 0o644)
}

fn signed(
    certs_dir: &Path,
    ca_key: Option<&Path>,
    mut p: CertificateParams,
    files: (&str, &str),
) -> Result<(), String> {
    let issuer = load_ca(certs_dir, ca_key)?;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = p.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    write_new(&certs_dir.join(files.1), &key.serialize_pem(), 0o600)?;
    write_new(&certs_dir.join(files.0), &cert.pem(), 0o644)
}

/// `create-node HOST…`: the node certificate for `hosts` (names or IPs
/// other nodes and clients dial it by).
pub fn create_node(
    certs_dir: &Path,
    ca_key: Option<&Path>,
    hosts: &[String],
) -> Result<(), String> {
    if hosts.is_empty() {
        return Err("create-node needs the node's host names or addresses".into());
    }
    let mut p = params(NODE_NAME, 5)?;
    for h in hosts {
        let san = match h.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.clone()
                    .try_into()
                    .map_err(|e| format!("host {h:?}: {e}"))?,
            ),
        };
        p.subject_alt_names.push(san);
    }
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    signed(certs_dir, ca_key, p, (NODE_CERT, NODE_KEY))
}

/// `create-client USER`: `user`'s client certificate.
pub fn create_client(certs_dir: &Path, ca_key: Option<&Path>, user: &str) -> Result<(), String> {
    if user.is_empty()
        || user == NODE_NAME
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid user name {user:?} (letters, digits, _ and -; not {NODE_NAME:?})"
        ));
    }
    let mut p = params(user, 5)?;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let (cert, key) = client_files(user);
    signed(certs_dir, ca_key, p, (&cert, &key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_signs_node_and_client_certificates_readable_by_their_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        create_ca(&certs, None).unwrap();
        create_node(&certs, None, &["127.0.0.1".into(), "localhost".into()]).unwrap();
        create_client(&certs, None, "root").unwrap();
        for key in ["ca.key", "node.key", "client.root.key"] {
            let mode = std::fs::metadata(certs.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let node = spanlite_directory::tls::TlsConfig::node(&certs).unwrap();
        assert_eq!(node.name, "node");
        spanlite_directory::tls::TlsConfig::user(&certs, "root").unwrap();
        let der = |file: &str| {
            let pem = std::fs::read_to_string(certs.join(file)).unwrap();
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            base64_decode(&b64)
        };
        assert_eq!(
            spanlite_directory::tls::common_name(&der("node.crt")).as_deref(),
            Some("node")
        );
        assert_eq!(
            spanlite_directory::tls::common_name(&der("client.root.crt")).as_deref(),
            Some("root")
        );
        // Nothing is overwritten.
        let again = create_ca(&certs, None).unwrap_err();
        assert!(again.contains("exists already"), "{again}");
        assert!(create_client(&certs, None, "node").is_err());
        assert!(create_client(&certs, None, "a b").is_err());
        // A key others can read is refused.
        std::fs::set_permissions(
            certs.join("node.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let err = spanlite_directory::tls::TlsConfig::node(&certs).unwrap_err();
        assert!(err.contains("readable by others"), "{err}");
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = table.iter().position(|t| *t == c).unwrap() as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}
