//! Fuzzes the parsers of keys and signatures (`name:base64`): any text must
//! parse or fail with a typed error, never panic. What parses must print
//! back to text that parses to the same value, and verifying a parsed
//! signature against a parsed key must only ever answer yes or no.
#![no_main]

use b8g_store::format::signing::{PublicKey, SecretKey, Signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = SecretKey::parse(text);
    let public = PublicKey::parse(text);
    let sig = Signature::parse(text);
    if let Ok(k) = &secret {
        let again = SecretKey::parse(&k.to_text()).expect("printed secret key parses");
        assert_eq!(again.to_text(), k.to_text());
        let s = k.sign(b"message");
        assert!(k.public().verify(b"message", &s), "own signature does not verify");
        assert!(!k.public().verify(b"other message", &s));
    }
    if let Ok(k) = &public {
        let again = PublicKey::parse(&k.to_string()).expect("printed public key parses");
        assert_eq!(&again, k);
    }
    if let Ok(s) = &sig {
        let again = Signature::parse(&s.to_string()).expect("printed signature parses");
        assert_eq!(&again, s);
        if let Ok(k) = &public {
            let _ = k.verify(b"1;/nix/store/x;sha256:0;0;", s);
        }
    }
    for e in [secret.err(), public.err(), sig.err()].into_iter().flatten() {
        let _ = e.to_string();
    }
    // The same text split as a key and a signature (as narinfos pair them).
    if let Some((a, b)) = text.split_once('\n') {
        if let (Ok(k), Ok(s)) = (PublicKey::parse(a), Signature::parse(b)) {
            let _ = k.verify(b"fingerprint", &s);
        }
    }
});
