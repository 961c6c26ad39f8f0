//! The keys a Coinbase section takes besides the common ones: optional API credentials.

use super::jwt::Signer;
use crate::config::{Secret, Section};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct CoinbaseSettings {
    /// Optional: an API key for JWT-authenticated subscriptions. Public market data
    /// needs none.
    #[serde(default)]
    pub credentials: Option<ApiCredentials>,
}

/// `exchanges.coinbase.credentials`: a Coinbase Developer Platform API key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCredentials {
    /// `organizations/{org_id}/apiKeys/{key_id}`.
    pub key_name: String,
    /// The PEM EC private key (never printed).
    pub private_key: Secret,
}

impl CoinbaseSettings {
    /// Records in `section` a key that cannot sign.
    pub fn validate(&self, section: &mut Section<'_>) {
        if let Some(c) = &self.credentials {
            if let Err(e) = Signer::new(&c.key_name, c.private_key.expose()) {
                section.problem("credentials.private_key", e.to_string());
            }
        }
    }
}
