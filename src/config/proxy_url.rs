//! Proxy URLs: parsing and validation (scheme, host, port, credentials) and the
//! redacted forms used everywhere a proxy is shown. A password never leaves this type
//! except through [`ProxyUrl::with_credentials`], which only the connection factory calls.

use std::fmt;

/// The proxy protocols the connection factory speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// HTTP proxy: `CONNECT` tunnel (plain TCP to the proxy).
    Http,
    /// HTTP proxy reached over TLS, then `CONNECT` inside.
    Https,
    /// SOCKS4: the target is resolved locally and sent as an IPv4 address.
    Socks4,
    /// SOCKS4a: the target host name is sent to the proxy.
    Socks4a,
    /// SOCKS5: the target is resolved locally.
    Socks5,
    /// SOCKS5 with proxy-side name resolution.
    Socks5h,
}

impl ProxyScheme {
    /// Every accepted scheme, as written in a URL.
    pub const NAMES: &'static str = "http, https, socks4, socks4a, socks5, socks5h";

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "http" => Self::Http,
            "https" => Self::Https,
            "socks4" => Self::Socks4,
            "socks4a" => Self::Socks4a,
            "socks5" => Self::Socks5,
            "socks5h" => Self::Socks5h,
            _ => return None,
        })
    }

    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Socks4 => "socks4",
            Self::Socks4a => "socks4a",
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
        }
    }

    /// Port used when the URL names none: 80 for http, 443 for https, 1080 for SOCKS.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
            _ => 1080,
        }
    }

    /// Whether the proxy, not this process, resolves the target host name.
    pub fn resolves_remotely(self) -> bool {
        !matches!(self, Self::Socks4 | Self::Socks5)
    }
}

/// A string that must never be printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Proxy credentials; both parts are treated as secrets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    pub username: Secret,
    pub password: Secret,
}

/// A validated proxy URL. `Display` prints `scheme://host:port`, never credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ProxyUrl {
    pub scheme: ProxyScheme,
    pub host: String,
    pub port: u16,
    pub credentials: Option<Credentials>,
}

impl ProxyUrl {
    /// `scheme://***:***@host:port` when credentials are set, else `scheme://host:port`.
    pub fn masked(&self) -> String {
        match self.credentials {
            Some(_) => format!(
                "{}://***:***@{}:{}",
                self.scheme.as_str(),
                self.host_for_url(),
                self.port
            ),
            None => self.to_string(),
        }
    }

    /// The full URL including percent-encoded credentials, for handing to an HTTP client.
    pub fn with_credentials(&self) -> String {
        match &self.credentials {
            Some(c) => format!(
                "{}://{}:{}@{}:{}",
                self.scheme.as_str(),
                encode_userinfo(c.username.expose()),
                encode_userinfo(c.password.expose()),
                self.host_for_url(),
                self.port
            ),
            None => format!("{}://{}:{}", self.scheme.as_str(), self.host_for_url(), self.port),
        }
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}",
            self.scheme.as_str(),
            self.host_for_url(),
            self.port
        )
    }
}

fn encode_userinfo(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn decode_userinfo(s: &str) -> Result<String, String> {
    percent_decode(s).ok_or_else(|| "credentials are not valid percent-encoded UTF-8".to_owned())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// DNS limits on a host name and on each of its labels (RFC 1035); SOCKS5 carries at
/// most 255 bytes of name.
const MAX_HOST_NAME_LEN: usize = 253;
const MAX_HOST_LABEL_LEN: usize = 63;

impl TryFrom<String> for ProxyUrl {
    type Error = String;

    /// Error messages never repeat the input: it may hold a password.
    fn try_from(raw: String) -> Result<Self, String> {
        let (scheme_str, _) = raw
            .split_once("://")
            .ok_or_else(|| format!("a proxy URL must start with a scheme ({})", ProxyScheme::NAMES))?;
        let scheme = ProxyScheme::parse(&scheme_str.to_ascii_lowercase())
            .ok_or_else(|| format!("unsupported proxy scheme; expected one of {}", ProxyScheme::NAMES))?;
        let url = url::Url::parse(&raw).map_err(|e| format!("invalid proxy URL: {e}"))?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) if d.len() > MAX_HOST_NAME_LEN => {
                return Err(format!(
                    "the proxy host name is longer than {MAX_HOST_NAME_LEN} characters"
                ));
            }
            Some(url::Host::Domain(d)) if d.split('.').any(|l| l.len() > MAX_HOST_LABEL_LEN) => {
                return Err(format!(
                    "a label of the proxy host name is longer than {MAX_HOST_LABEL_LEN} characters"
                ));
            }
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("the proxy URL has no host".to_owned()),
        };
        let port = url.port_or_known_default().unwrap_or(scheme.default_port());
        if port == 0 {
            return Err("proxy port must be 1-65535".to_owned());
        }
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() || url.fragment().is_some()
        {
            return Err("a proxy URL takes no path, query or fragment".to_owned());
        }
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, pass) => Some(Credentials {
                username: Secret(decode_userinfo(user)?),
                password: Secret(decode_userinfo(pass.unwrap_or(""))?),
            }),
        };
        Ok(Self {
            scheme,
            host,
            port,
            credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ProxyUrl, String> {
        ProxyUrl::try_from(s.to_owned())
    }

    #[test]
    fn host_names_within_dns_limits() {
        let label = "a".repeat(63);
        let long = [label.as_str(); 5].join(".");
        assert!(parse(&format!("socks5h://{}:1080", &long[..253])).is_ok());
        let too_long = parse(&format!("socks5h://{long}:1080")).unwrap_err();
        assert!(too_long.contains("longer than 253"), "{too_long}");
        let label_err = parse(&format!("http://{}a.example:8080", label)).unwrap_err();
        assert!(label_err.contains("label"), "{label_err}");
    }

    #[test]
    fn accepts_every_scheme_with_documented_default_ports() {
        for (url, scheme, port) in [
            ("http://p", ProxyScheme::Http, 80),
            ("https://p", ProxyScheme::Https, 443),
            ("socks4://p", ProxyScheme::Socks4, 1080),
            ("socks4a://p", ProxyScheme::Socks4a, 1080),
            ("socks5://p", ProxyScheme::Socks5, 1080),
            ("SOCKS5H://p:9050", ProxyScheme::Socks5h, 9050),
        ] {
            let p = parse(url).unwrap();
            assert_eq!((p.scheme, p.port, p.host.as_str()), (scheme, port, "p"), "{url}");
        }
    }

    #[test]
    fn credentials_are_decoded_and_never_displayed() {
        let p = parse("socks5h://us%40er:p%3Ass@proxy.example:1080").unwrap();
        let c = p.credentials.as_ref().unwrap();
        assert_eq!((c.username.expose(), c.password.expose()), ("us@er", "p:ss"));
        assert_eq!(p.to_string(), "socks5h://proxy.example:1080");
        assert_eq!(p.masked(), "socks5h://***:***@proxy.example:1080");
        assert!(!format!("{p:?}").contains("p:ss"));
        assert_eq!(
            p.with_credentials(),
            "socks5h://us%40er:p%3Ass@proxy.example:1080"
        );
    }

    #[test]
    fn rejects_bad_urls_without_echoing_them() {
        for (url, reason) in [
            ("ftp://user:hunter2@p:21", "unsupported proxy scheme"),
            ("proxy:1080", "must start with a scheme"),
            ("socks5://user:hunter2@:1080", "host"),
            ("http://user:hunter2@p:0", "1-65535"),
            ("http://user:hunter2@p:70000", "invalid port"),
            ("http://user:hunter2@p:8080/path", "no path"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains(reason), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn ipv6_hosts_keep_brackets_in_urls() {
        let p = parse("socks5://[::1]:1080").unwrap();
        assert_eq!(p.host, "::1");
        assert_eq!(p.to_string(), "socks5://[::1]:1080");
    }
}
