//! The password formats of an htpasswd file, as go-htpasswd (which contrib's `basicauth`
//! extension uses) reads them:
//!
//! | prefix | format | check |
//! |---|---|---|
//! | `$2a$`, `$2b$`, `$2y$` | bcrypt | the `bcrypt` crate |
//! | `{SHA}` | base64 of SHA-1(password) | `sha1` |
//! | `{SSHA}` | base64 of SHA-1(password + salt) + salt | `sha1` |
//! | `$apr1$`, `$1$` | Apache's and FreeBSD's MD5-crypt | md5crypt below, on `md-5` |
//! | `$5$`, `$6$` | SHA-256/SHA-512 crypt (glibc) | `sha-crypt` |
//! | anything else | plain text | constant-time comparison |
//!
//! A line whose prefix names a hash but whose hash is malformed is an error at load, so a
//! typo does not silently turn into a password nobody can type.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;

/// One htpasswd entry's password.
#[derive(Debug, Clone, PartialEq)]
pub enum Password {
    /// Written in plain text.
    Plain(String),
    /// A bcrypt hash (`$2y$...`).
    Bcrypt(String),
    /// `{SHA}`: SHA-1 of the password.
    Sha1([u8; 20]),
    /// `{SSHA}`: SHA-1 of the password and salt, and the salt.
    Ssha {
        /// SHA-1(password + salt).
        digest: [u8; 20],
        /// The salt.
        salt: Vec<u8>,
    },
    /// `$apr1$salt$hash` (Apache) or `$1$salt$hash` (md5crypt).
    Md5Crypt {
        /// `$apr1$` or `$1$`.
        magic: &'static str,
        /// Up to 8 salt characters.
        salt: String,
        /// The 22-character encoded hash.
        hash: String,
    },
    /// `$5$` (SHA-256) or `$6$` (SHA-512) crypt, as written.
    ShaCrypt(String),
}

impl Password {
    /// Reads one entry's password field; `Err` describes a malformed hash.
    pub fn parse(field: &str) -> Result<Password, String> {
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| field.starts_with(p)) {
            field
                .parse::<bcrypt::HashParts>()
                .map_err(|err| format!("invalid bcrypt hash: {err}"))?;
            return Ok(Password::Bcrypt(field.to_string()));
        }
        if let Some(b64) = field.strip_prefix("{SHA}") {
            let digest = decode_b64(b64)
                .and_then(|d| <[u8; 20]>::try_from(d).ok())
                .ok_or("invalid {SHA} hash: expected the base64 of a 20-byte SHA-1 digest")?;
            return Ok(Password::Sha1(digest));
        }
        if let Some(b64) = field.strip_prefix("{SSHA}") {
            let raw = decode_b64(b64)
                .filter(|d| d.len() > 20)
                .ok_or("invalid {SSHA} hash: expected the base64 of a SHA-1 digest followed by a salt")?;
            let (digest, salt) = raw.split_at(20);
            return Ok(Password::Ssha {
                digest: digest.try_into().map_err(|_| "invalid {SSHA} hash")?,
                salt: salt.to_vec(),
            });
        }
        for magic in ["$apr1$", "$1$"] {
            if let Some(rest) = field.strip_prefix(magic) {
                let (salt, hash) = rest
                    .split_once('$')
                    .filter(|(salt, hash)| {
                        salt.len() <= 8 && hash.len() == 22 && hash.bytes().all(|b| ITOA64.contains(&b))
                    })
                    .ok_or_else(|| {
                        format!("invalid {magic} MD5 hash: expected {magic}salt$<22 characters>")
                    })?;
                return Ok(Password::Md5Crypt {
                    magic,
                    salt: salt.to_string(),
                    hash: hash.to_string(),
                });
            }
        }
        if field.starts_with("$5$") || field.starts_with("$6$") {
            sha_crypt_parts(field)
                .ok_or("invalid SHA-crypt hash: expected $5$ or $6$, [rounds=N$]salt$hash")?;
            return Ok(Password::ShaCrypt(field.to_string()));
        }
        Ok(Password::Plain(field.to_string()))
    }

    /// True for the deliberately slow formats (bcrypt, SHA-crypt), whose outcomes are cached
    /// and which an unknown user is checked against.
    pub fn is_slow(&self) -> bool {
        matches!(self, Password::Bcrypt(_) | Password::ShaCrypt(_))
    }

    /// Whether `given` is this password, without the cache.
    pub fn verify(&self, given: &str) -> bool {
        match self {
            Password::Plain(p) => constant_time_eq(p.as_bytes(), given.as_bytes()),
            Password::Bcrypt(hash) => bcrypt::verify(given, hash).unwrap_or(false),
            Password::Sha1(digest) => constant_time_eq(&Sha1::digest(given.as_bytes()), digest),
            Password::Ssha { digest, salt } => {
                let mut h = Sha1::new();
                h.update(given.as_bytes());
                h.update(salt);
                constant_time_eq(&h.finalize(), digest)
            }
            Password::Md5Crypt { magic, salt, hash } => constant_time_eq(
                md5_crypt(given.as_bytes(), magic, salt.as_bytes()).as_bytes(),
                hash.as_bytes(),
            ),
            Password::ShaCrypt(field) => sha_crypt_matches(field, given),
        }
    }
}

/// Compares in time independent of where the first difference is, so a secret cannot be
/// guessed byte by byte from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

/// The crypt alphabet (a base64 variant) of md5crypt and SHA-crypt.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Poul-Henning Kamp's MD5-crypt (FreeBSD `$1$`), which Apache's `$apr1$` is with another
/// magic string; returns the 22-character encoded hash.
fn md5_crypt(password: &[u8], magic: &str, salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(8)];
    let alternate = {
        let mut h = Md5::new();
        h.update(password);
        h.update(salt);
        h.update(password);
        h.finalize()
    };
    let mut h = Md5::new();
    h.update(password);
    h.update(magic.as_bytes());
    h.update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        h.update(&alternate[..n]);
        left -= n;
    }
    // One byte per bit of the length: a zero byte for a set bit, the password's first
    // byte for a clear one (the original's quirk, kept by every implementation).
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            h.update([0u8]);
        } else {
            h.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = h.finalize();
    // 1000 rounds, to slow down guessing.
    for round in 0..1000 {
        let mut h = Md5::new();
        if round % 2 == 1 {
            h.update(password);
        } else {
            h.update(digest);
        }
        if round % 3 != 0 {
            h.update(salt);
        }
        if round % 7 != 0 {
            h.update(password);
        }
        if round % 2 == 1 {
            h.update(digest);
        } else {
            h.update(password);
        }
        digest = h.finalize();
    }
    let d = digest;
    let mut out = String::with_capacity(22);
    let mut put = |value: u32, chars: usize| {
        let mut v = value;
        for _ in 0..chars {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put(
            (u32::from(d[a]) << 16) | (u32::from(d[b]) << 8) | u32::from(d[c]),
            4,
        );
    }
    put(u32::from(d[11]), 2);
    out
}

/// The parts of a SHA-crypt field: (is SHA-512, rounds, salt, hash).
fn sha_crypt_parts(field: &str) -> Option<(bool, usize, &str, &str)> {
    let (sha512, rest) = match field.strip_prefix("$6$") {
        Some(rest) => (true, rest),
        None => (false, field.strip_prefix("$5$")?),
    };
    let mut parts = rest.split('$');
    let mut next = parts.next()?;
    let mut rounds = 5000;
    if let Some(n) = next.strip_prefix("rounds=") {
        // glibc clamps the rounds to [1000, 999999999].
        rounds = n.parse::<usize>().ok()?.clamp(1000, 999_999_999);
        next = parts.next()?;
    }
    let salt = next;
    let hash = parts.next()?;
    let hash_len = if sha512 { 86 } else { 43 };
    if parts.next().is_some() || hash.len() != hash_len || !hash.bytes().all(|b| ITOA64.contains(&b)) {
        return None;
    }
    Some((sha512, rounds, salt, hash))
}

/// Whether `given` matches a `$5$`/`$6$` field.
fn sha_crypt_matches(field: &str, given: &str) -> bool {
    let Some((sha512, rounds, salt, hash)) = sha_crypt_parts(field) else {
        return false;
    };
    // The salt is at most 16 bytes; glibc ignores the rest.
    let salt = &salt.as_bytes()[..salt.len().min(16)];
    let computed = if sha512 {
        sha_crypt::Sha512Params::new(rounds)
            .ok()
            .and_then(|p| sha_crypt::sha512_crypt_b64(given.as_bytes(), salt, &p).ok())
    } else {
        sha_crypt::Sha256Params::new(rounds)
            .ok()
            .and_then(|p| sha_crypt::sha256_crypt_b64(given.as_bytes(), salt, &p).ok())
    };
    computed.is_some_and(|c| constant_time_eq(c.as_bytes(), hash.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference hashes of "password", as `openssl passwd` and `htpasswd` print them.
    #[test]
    fn known_hashes_verify() {
        let cases = [
            // openssl passwd -apr1 -salt xxxxxxxx password
            "$apr1$xxxxxxxx$dxHfLAsjHkDRmG83UXe8K0",
            // openssl passwd -1 -salt saltsalt password
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
            // htpasswd -nbs u password (SHA-1, base64)
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            // openssl passwd -5 -salt saltsalt password
            "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.",
            // openssl passwd -5 -salt 'rounds=1000$abcdefghijklmnopq' password (salt cut to 16)
            "$5$rounds=1000$abcdefghijklmnop$0.i7pTkgRcrwt4JftU7Ve3MEMb/4W.rkuUQqGV6THd8",
            // openssl passwd -6 -salt saltsalt password
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
        ];
        for field in cases {
            let password = Password::parse(field).unwrap();
            assert!(password.verify("password"), "{field} did not verify");
            assert!(!password.verify("passwore"), "{field} verified a wrong password");
        }
    }

    #[test]
    fn ssha_verifies_with_its_salt() {
        let salt = b"NaCl";
        let mut h = Sha1::new();
        h.update(b"pw");
        h.update(salt);
        let mut raw = h.finalize().to_vec();
        raw.extend_from_slice(salt);
        let field = format!(
            "{{SSHA}}{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        let password = Password::parse(&field).unwrap();
        assert!(password.verify("pw"));
        assert!(!password.verify("px"));
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for field in [
            "{SHA}short",
            "{SSHA}AAAA",
            "$apr1$salt$tooshort",
            "$1$waytoolongsalt$dxHfLAsjHkDRmG83UXe8K0",
            "$6$salt$short",
            "$5$rounds=x$salt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.",
            "$2y$05$short",
        ] {
            assert!(Password::parse(field).is_err(), "{field} was accepted");
        }
        assert_eq!(Password::parse("plain").unwrap(), Password::Plain("plain".into()));
    }
}
