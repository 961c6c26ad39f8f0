//! Optional Coinbase API credentials: an ES256 JWT per subscribe message, as Coinbase's
//! Advanced Trade WebSocket expects (`kid` = key name, `iss: cdp`, two-minute lifetime).
//! The private key is a PEM EC key (SEC1 `EC PRIVATE KEY` as Coinbase issues it, or
//! PKCS#8); it never leaves this module and is never printed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// Seconds a token is valid.
const LIFETIME_S: i64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("coinbase credentials: the private key is not a PEM EC P-256 key ({0})")]
    Key(&'static str),
    #[error("coinbase credentials: signing failed")]
    Sign,
}

pub struct Signer {
    key_name: String,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        let (bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
        (
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
            rest,
        )
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// SEC1 `ECPrivateKey`: the private scalar and the uncompressed public point.
fn sec1_parts(sec1: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, body, _) = der(sec1)? else { return None };
    let (0x02, _version, rest) = der(body)? else {
        return None;
    };
    let (0x04, private, mut rest) = der(rest)? else {
        return None;
    };
    while !rest.is_empty() {
        let (tag, contents, next) = der(rest)?;
        if tag == 0xa1 {
            let (0x03, bits, _) = der(contents)? else {
                return None;
            };
            return Some((private, bits.get(1..)?));
        }
        rest = next;
    }
    None
}

impl Signer {
    pub fn new(key_name: &str, private_key_pem: &str) -> Result<Self, JwtError> {
        let rng = SystemRandom::new();
        let pem = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|_| JwtError::Key("no PEM key"))?;
        let key = match &pem {
            PrivateKeyDer::Sec1(k) => {
                let (private, public) =
                    sec1_parts(k.secret_sec1_der()).ok_or(JwtError::Key("malformed SEC1"))?;
                EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    private,
                    public,
                    &rng,
                )
            }
            PrivateKeyDer::Pkcs8(k) => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, k.secret_pkcs8_der(), &rng)
            }
            _ => return Err(JwtError::Key("RSA keys are not accepted")),
        }
        .map_err(|_| JwtError::Key("not a P-256 key"))?;
        Ok(Self {
            key_name: key_name.to_owned(),
            key,
            rng,
        })
    }

    /// The uncompressed public point, for verification.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// A token valid from `now_s` for two minutes.
    pub fn token(&self, now_s: i64) -> Result<String, JwtError> {
        let mut nonce = [0u8; 16];
        self.rng.fill(&mut nonce).map_err(|_| JwtError::Sign)?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let header = serde_json::json!({"alg": "ES256", "kid": self.key_name, "nonce": nonce, "typ": "JWT"});
        let claims =
            serde_json::json!({"iss": "cdp", "sub": self.key_name, "nbf": now_s, "exp": now_s + LIFETIME_S});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| JwtError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    fn verify(signer: &Signer, token: &str) -> serde_json::Value {
        let (input, signature) = token.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, signer.public_key())
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
            .expect("signature verifies with the key's public half");
        let (header, claims) = input.split_once('.').unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(
            (header["alg"].as_str(), header["typ"].as_str()),
            (Some("ES256"), Some("JWT"))
        );
        assert_eq!(header["kid"], "organizations/o/apiKeys/k");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
    }

    #[test]
    fn pkcs8_key_signs_verifiable_tokens() {
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let signer = Signer::new("organizations/o/apiKeys/k", &pem).unwrap();
        let claims = verify(&signer, &signer.token(1_800_000_000).unwrap());
        assert_eq!(
            claims,
            serde_json::json!({"iss": "cdp", "sub": "organizations/o/apiKeys/k", "nbf": 1_800_000_000, "exp": 1_800_000_120})
        );
    }

    #[test]
    fn sec1_key_as_coinbase_issues_it() {
        // Generated with `openssl ecparam -name prime256v1 -genkey -noout` (SEC1, with the
        // curve parameters and the public key), a throwaway key.
        let pem = "-----BEGIN EC PRIVATE KEY-----\n\
            MHcCAQEEIBBYagtkmTqQ1x9ZfvX5KWATAWXvaIWY2u9is0FaF1JwoAoGCCqGSM49\n\
            AwEHoUQDQgAE+/u488/3SAiAhsCeZz48z8sUADxlUUH33X+uuxoNxUP1/mDRFNLH\n\
            afHITgRhNahgrnxalkFlHW2DbI70xzix8w==\n\
            -----END EC PRIVATE KEY-----\n";
        let signer = Signer::new("organizations/o/apiKeys/k", pem).unwrap();
        let token = signer.token(1_800_000_000).unwrap();
        assert_eq!(verify(&signer, &token)["sub"], "organizations/o/apiKeys/k");
        assert_ne!(
            token,
            signer.token(1_800_000_000).unwrap(),
            "a fresh nonce per token"
        );
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        for pem in [
            "not a key",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        ] {
            let e = Signer::new("k", pem).unwrap_err().to_string();
            assert!(e.contains("not a PEM EC P-256 key") && !e.contains("AAAA"), "{e}");
        }
    }
}
