//! Credentials: named bearer tokens (only their SHA-256 is kept; compared in constant
//! time) and allow-listed client certificates, each with scopes.

use super::Scope;
use crate::app::AuthError;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Shortest token accepted.
pub const MIN_TOKEN_BYTES: usize = 16;

/// One named credential. The token itself is not kept.
#[derive(Clone)]
pub(super) struct Credential {
    pub(super) name: String,
    pub(super) scopes: Vec<Scope>,
    hash: [u8; 32],
}

/// The configured credentials.
#[derive(Clone, Default)]
pub struct Credentials {
    list: Vec<Credential>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.list.iter().map(|c| c.name.as_str()).collect();
        write!(f, "Credentials {names:?}")
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Credentials {
    /// Parses `name:scopes:token` entries, one a line or separated by `;`; blank entries
    /// and `#` comments are skipped. `source` names where they came from in errors (never
    /// the token).
    pub fn parse(text: &str, source: &str) -> Result<Credentials, String> {
        let mut list: Vec<Credential> = Vec::new();
        for (i, entry) in text.split(['\n', ';']).enumerate() {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let at = format!("{source}, entry {}", i + 1);
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(scopes), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{at}: expected name:scopes:token"));
            };
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
            if !name_ok {
                return Err(format!("{at}: the name must be 1-64 characters of A-Z a-z 0-9 . _ - @"));
            }
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s.trim())
                        .ok_or_else(|| format!("{at}: unknown scope {s:?} (read, write, check, lookup)"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if token.len() < MIN_TOKEN_BYTES || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "{at}: the token of {name:?} must be at least {MIN_TOKEN_BYTES} bytes, without spaces"
                ));
            }
            let hash = hash(token);
            if list.iter().any(|c| c.name == name) {
                return Err(format!("{at}: the name {name:?} is used twice"));
            }
            if list.iter().any(|c| same(&c.hash, &hash)) {
                return Err(format!("{at}: the token of {name:?} is also another credential's"));
            }
            list.push(Credential {
                name: name.to_string(),
                scopes,
                hash,
            });
        }
        Ok(Credentials { list })
    }

    /// Adds another set (from a second source); names and tokens must stay unique.
    pub fn merge(mut self, other: Credentials) -> Result<Credentials, String> {
        for c in other.list {
            if self.list.iter().any(|x| x.name == c.name || same(&x.hash, &c.hash)) {
                return Err(format!("the credential {:?} is configured twice", c.name));
            }
            self.list.push(c);
        }
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The credential a token belongs to. Every credential is compared, in constant time,
    /// so the answer's timing does not tell which one matched or how much of it.
    pub(super) fn authenticate(&self, token: &str) -> Option<&Credential> {
        let presented = hash(token);
        let mut found = None;
        for c in &self.list {
            if same(&c.hash, &presented) {
                found = Some(c);
            }
        }
        found
    }
}

/// Client certificates as credentials (mTLS): a certificate that chains to the client CA
/// and names an allow-listed DNS name (subject alternative name) authenticates as that
/// entry's name, with its scopes.
#[derive(Clone)]
pub struct ClientCerts {
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    allow: Vec<(String, Vec<Scope>, String)>,
}

impl std::fmt::Debug for ClientCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.allow.iter().map(|(n, _, _)| n.as_str()).collect();
        write!(f, "ClientCerts {names:?}")
    }
}

impl ClientCerts {
    /// `name:scopes:dns-name` a line (`#` comments), checked against `verifier`.
    pub fn parse(
        text: &str,
        source: &str,
        verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    ) -> Result<ClientCerts, String> {
        let mut allow: Vec<(String, Vec<Scope>, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{source}, line {}", i + 1);
            let mut parts = line.splitn(3, ':');
            let (Some(name), Some(scopes), Some(dns)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{at}: expected name:scopes:dns-name"));
            };
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s.trim())
                        .ok_or_else(|| format!("{at}: unknown scope {s:?} (read, write, check, lookup)"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if name.is_empty() || dns.trim().is_empty() {
                return Err(format!("{at}: a name and a DNS name are required"));
            }
            if allow.iter().any(|(n, _, _)| n == name) {
                return Err(format!("{at}: the name {name:?} is used twice"));
            }
            allow.push((name.to_string(), scopes, dns.trim().to_ascii_lowercase()));
        }
        Ok(ClientCerts { verifier, allow })
    }

    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
    }

    /// The allow-listed identity of a presented chain.
    pub(super) fn authenticate(
        &self,
        chain: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<(&str, &[Scope]), AuthError> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(AuthError::Unauthenticated("no client certificate".into()));
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, rustls::pki_types::UnixTime::now())
            .map_err(|e| AuthError::Unauthenticated(format!("the client certificate is not accepted: {e}")))?;
        let cert = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| AuthError::Unauthenticated(format!("the client certificate cannot be read: {e:?}")))?;
        let names: Vec<String> = cert.valid_dns_names().map(str::to_ascii_lowercase).collect();
        self.allow
            .iter()
            .find(|(_, _, dns)| names.iter().any(|n| n == dns))
            .map(|(name, scopes, _)| (name.as_str(), scopes.as_slice()))
            .ok_or_else(|| {
                AuthError::PermissionDenied(format!("the client certificate {names:?} is not on the allow-list"))
            })
    }
}
