//! Supervisors' accounts' rules, in one place: the password rules,
//! argon2id hashing and the TOTP second factor. They live in this crate,
//! which has no storage, so that both the server (which keeps the hashes
//! and secrets, and whose operator commands need the same rules as the
//! pages) and the in-memory [`crate::testing`] backend apply the very same
//! rules rather than two copies of them.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use totp_rs::{Algorithm as TotpAlgorithm, Secret, TOTP};

use crate::DashboardError;

type Result<T> = std::result::Result<T, DashboardError>;

/// Shortest password accepted (characters).
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (characters): bounds the hashing work.
pub const MAX_PASSWORD: usize = 128;
/// The least zxcvbn score (0 to 4) accepted: 3, "safely unguessable".
const MIN_SCORE: u8 = 3;

/// Seconds since the epoch of a moment in ms, as TOTP counts time.
pub fn now_secs(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1000).unwrap_or_default()
}

/// TOTP: 30-second steps, 6 digits, SHA-1 (RFC 6238 as every
/// authenticator app reads it); a code one step early or late is accepted.
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
const SKEW_STEPS: i64 = 1;
/// Shown as the issuer in authenticator apps.
const ISSUER: &str = "Carnet";

/// argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): costly for
/// a guesser, bearable for a sign-in on a small server.
fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| DashboardError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password as a PHC string (salt and parameters included).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| DashboardError::Internal(format!("password salt: {e}")))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| DashboardError::Internal(format!("password hash: {e}")))?
        .to_string())
}

/// Whether `password` is the one `phc` was made from; a malformed hash
/// matches nothing.
pub fn verify_password(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A password is refused unless it has 12 to 128 characters and zxcvbn
/// scores it at least 3 of 4 with the person's name, e-mail and "carnet"
/// as known words (so "Carnet-Awa-2024!" is weak). The French reason is
/// what the form shows.
pub fn check_password(password: &str, name: &str, email: &str) -> std::result::Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "Mot de passe trop court : il faut au moins {MIN_PASSWORD} caractères (une phrase de plusieurs mots convient)."
        ));
    }
    if n > MAX_PASSWORD {
        return Err(format!(
            "Mot de passe trop long : {MAX_PASSWORD} caractères au plus."
        ));
    }
    // Lowercased: zxcvbn matches words case-insensitively only against
    // lowercase inputs.
    let (name, email) = (name.to_lowercase(), email.to_lowercase());
    let local = email.split('@').next().unwrap_or_default();
    let mut inputs: Vec<&str> = vec!["carnet", &name, &email, local];
    inputs.extend(name.split_whitespace());
    inputs.extend(local.split(['.', '-', '_', '+']));
    let score = u8::from(zxcvbn::zxcvbn(password, &inputs).score());
    if score < MIN_SCORE {
        return Err(
            "Mot de passe trop facile à deviner (mot courant, suite de caractères, nom, adresse ou « carnet ») : choisissez-en un plus long et moins prévisible, par exemple plusieurs mots sans rapport entre eux."
                .into(),
        );
    }
    Ok(())
}

/// What a person needs to enrol a second factor: the secret (base32) to
/// type in, the `otpauth://` URI and the same as a QR code (SVG) to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSetup {
    /// Base32, without padding.
    pub secret: String,
    /// `otpauth://totp/Carnet:<email>?secret=…&issuer=Carnet`.
    pub uri: String,
    /// The URI as a QR code, an inline SVG element.
    pub qr_svg: String,
}

pub(crate) fn totp(secret_b32: &str, email: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|_| DashboardError::BadRequest("TOTP secret: not base32".into()))?;
    Ok(TOTP::new_unchecked(
        TotpAlgorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        bytes,
        Some(ISSUER.to_string()),
        email.to_string(),
    ))
}

/// A fresh secret (160 random bits, as RFC 4226 recommends) for `email`.
pub fn new_totp(email: &str) -> Result<TotpSetup> {
    let secret = Secret::Raw(rand::random::<[u8; 20]>().to_vec()).to_encoded();
    totp_setup(&secret.to_string(), email)
}

/// The setup for a secret already drawn (a form shown again after a wrong
/// code keeps the secret the person has already scanned).
pub fn totp_setup(secret: &str, email: &str) -> Result<TotpSetup> {
    let uri = totp(secret, email)?.get_url();
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(180, 180)
                .build()
        })
        .unwrap_or_default();
    // The XML declaration does not belong inside an HTML page.
    let qr_svg = match qr_svg.find("<svg") {
        Some(i) => qr_svg[i..].to_string(),
        None => qr_svg,
    };
    Ok(TotpSetup {
        secret: secret.to_string(),
        uri,
        qr_svg,
    })
}

/// The step a code is right for at `now_secs` (this step, the one before
/// or the one after), or `None`. The caller then makes sure the step was
/// not used already (the server remembers the last step used).
pub fn totp_step(secret: &str, email: &str, code: &str, now_secs: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, email).ok()?;
    let now_step = i64::try_from(now_secs / STEP_SECS).ok()?;
    (-SKEW_STEPS..=SKEW_STEPS)
        .map(|d| now_step + d)
        .filter(|s| *s >= 0)
        .find(|s| {
            let at = u64::try_from(*s).unwrap_or_default() * STEP_SECS;
            crate::session::same_secret(&t.generate(at), code)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_verify_and_follow_the_rules() {
        let h = hash_password("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(&h, "correct horse battery staple"));
        assert!(!verify_password(&h, "correct horse battery stapler"));
        assert!(!verify_password("not a hash", "x"));
        assert!(check_password("court", "Awa", "awa@x.fr").is_err());
        assert!(check_password("carnetcarnet", "Awa", "awa@x.fr").is_err());
        assert!(check_password("password1234", "Awa Diallo", "awa@x.fr").is_err());
        assert!(
            check_password(
                "awa.diallo@exemple.fr",
                "Awa Diallo",
                "awa.diallo@exemple.fr"
            )
            .is_err()
        );
        assert!(check_password(&"x".repeat(129), "Awa", "awa@x.fr").is_err());
        assert!(check_password("tulipe orage 47 vélo bleu", "Awa", "awa@x.fr").is_ok());
    }

    #[test]
    fn totp_codes_match_their_step_and_its_neighbours() {
        let s = new_totp("awa@x.fr").unwrap();
        assert!(s.uri.starts_with("otpauth://totp/Carnet:awa%40x.fr?"));
        assert!(s.qr_svg.starts_with("<svg"));
        let t = totp(&s.secret, "awa@x.fr").unwrap();
        let now = 1_000_000_020;
        let step = (now / 30) as i64;
        assert_eq!(
            totp_step(&s.secret, "awa@x.fr", &t.generate(now), now),
            Some(step)
        );
        assert_eq!(
            totp_step(&s.secret, "awa@x.fr", &t.generate(now - 30), now),
            Some(step - 1)
        );
        assert_eq!(
            totp_step(&s.secret, "awa@x.fr", &t.generate(now + 30), now),
            Some(step + 1)
        );
        assert_eq!(
            totp_step(&s.secret, "awa@x.fr", &t.generate(now - 90), now),
            None
        );
        assert_eq!(totp_step(&s.secret, "awa@x.fr", "12a456", now), None);
    }
}
