//! Who may use the HTTP API: a bearer token (from `BATON_API_TOKEN` or `[serve] token_file`),
//! compared in constant time, and, for webhooks, an HMAC-SHA256 signature of the body
//! (GitHub's `X-Hub-Signature-256: sha256=HEX`) with the hook's secret.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::ServeSection;

/// The API token and who acts with it.
#[derive(Clone)]
pub struct ApiToken {
    secret: Vec<u8>,
    /// Recorded as the decider of gates approved or rejected through the API.
    pub name: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({})", self.name)
    }
}

impl ApiToken {
    /// The configured token: `env_token` (`BATON_API_TOKEN`) first, then `[serve] token_file`.
    pub fn load(
        section: &ServeSection,
        env_token: Option<String>,
    ) -> anyhow::Result<Option<ApiToken>> {
        let secret = match (
            env_token.filter(|t| !t.trim().is_empty()),
            &section.token_file,
        ) {
            (Some(t), _) => t.trim().as_bytes().to_vec(),
            (None, Some(file)) => read_secret(file, "[serve] token_file")?,
            (None, None) => return Ok(None),
        };
        Ok(Some(ApiToken {
            secret,
            name: section.token_name.clone().unwrap_or_else(|| "api".into()),
        }))
    }

    /// Whether an `Authorization` header carries this token.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        given.ct_eq(&self.secret).into()
    }
}

/// Reads a secret file: private to its owner (no group or other access), trimmed, not empty.
pub fn read_secret(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        bail!(
            "{what} {} can be read by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        );
    }
    let text =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let secret = text.trim_ascii().to_vec();
    if secret.is_empty() {
        bail!("{what} {} is empty; put the secret in it", path.display());
    }
    Ok(secret)
}

/// Whether `header` (`sha256=HEX`) is the HMAC-SHA256 of `body` under `secret`.
pub fn signature_ok(secret: &[u8], body: &[u8], header: Option<&[u8]>) -> bool {
    let Some(hex) = header.and_then(|h| h.strip_prefix(b"sha256=")) else {
        return false;
    };
    let Some(given) = unhex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// `sha256=HEX` of `body` under `secret` (what a sender puts in `X-Hub-Signature-256`).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn unhex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_checked_against_the_body_and_secret() {
        let header = sign(b"s3cret", b"{\"ref\":\"main\"}");
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(signature_ok(
            b"s3cret",
            b"{\"ref\":\"main\"}",
            Some(header.as_bytes())
        ));
        assert!(!signature_ok(
            b"other",
            b"{\"ref\":\"main\"}",
            Some(header.as_bytes())
        ));
        assert!(!signature_ok(
            b"s3cret",
            b"{\"ref\":\"evil\"}",
            Some(header.as_bytes())
        ));
        assert!(!signature_ok(b"s3cret", b"{}", Some(b"sha256=zz")));
        assert!(!signature_ok(b"s3cret", b"{}", None));
    }

    #[test]
    fn a_token_is_accepted_only_as_a_bearer_of_the_same_bytes() {
        let token = ApiToken::load(&ServeSection::default(), Some("abc".into()))
            .unwrap()
            .unwrap();
        assert!(token.accepts(Some(b"Bearer abc")));
        assert!(!token.accepts(Some(b"Bearer abd")));
        assert!(!token.accepts(Some(b"Bearer ab")));
        assert!(!token.accepts(Some(b"abc")));
        assert!(!token.accepts(None));
        assert_eq!(token.name, "api");
    }
}
