//! tpm2-tools (tpm2-tss' `swtpm:` TCTI: data port and control channel on port + 1) against
//! `tpm12-server --tpm2`: startup, getcap (commands, pcrs, properties-fixed), pcrread,
//! pcrextend checked against a host SHA computation, getrandom, selftest, shutdown(STATE),
//! a server restart and Startup(STATE) with the state-saved PCR restored. Then objects and
//! sessions: createprimary (ECC) → create -i secret → load → unseal (the same secret),
//! readpublic, a PolicyPCR seal (trial session) and unseal through a policy session, the
//! refused unseal after pcrextend, evictcontrol, and a server restart on its state file
//! with unseal from the persistent handles; an unseal through an ECC-salted session with
//! parameter encryption. tpm2-tools starts an HMAC session for the
//! hierarchy and object authorizations, so the session HMACs are checked by tpm2-tss too.
//! Without a resource manager the tools leave their transient objects loaded, so each
//! step ends with `tpm2_flushcontext -t` (as with swtpm, whose TPM also has three slots).
//!
//! Skips (loudly) only if the Debian package tpm2-tools is missing.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha1::Sha1;
use sha2::{Digest, Sha256};
use tpm12_server::transport::{Tcp, TempDir, Transport, free_port_pair};

/// The server, stopped with SIGTERM (it must exit cleanly) or killed on drop.
struct Server(Option<Child>);

impl Server {
    fn start(port: u16, state: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_tpm12-server"))
            .args(["--tpm2", "--port", &port.to_string(), "--ctrl", &(port + 1).to_string(), "--startup", "none"])
            .arg("--state")
            .arg(state)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tpm12-server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port + 1)).is_err() {
            assert!(Instant::now() < deadline, "server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(Some(child))
    }

    fn stop(mut self) {
        let Some(mut child) = self.0.take() else { return };
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(status.success(), "tpm12-server exited with {status} on SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "tpm12-server did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tool(port: u16, args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .env("TPM2TOOLS_TCTI", format!("swtpm:host=127.0.0.1,port={port}"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]))
}

/// Runs a tool that must succeed; returns its stdout.
fn ok(port: u16, args: &[&str]) -> String {
    let out = tool(port, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?} failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    println!("  {:<40} ok", args.join(" "));
    text
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The value tpm2_pcrread prints for PCR `index` (the line `index: 0x…` after `bank:`).
fn pcr_value(text: &str, bank: &str, index: u32) -> Option<String> {
    let mut in_bank = false;
    for line in text.lines() {
        let t = line.trim();
        if t.ends_with(':') && !t.contains(' ') {
            in_bank = t == format!("{bank}:");
            continue;
        }
        if in_bank
            && let Some((i, v)) = t.split_once(':')
            && i.trim() == index.to_string()
        {
            return Some(v.trim().trim_start_matches("0x").to_string());
        }
    }
    None
}

#[test]
fn tpm2_tools_against_tpm12_server() {
    if !Path::new("/usr/bin/tpm2_startup").exists() {
        println!("SKIPPED: tpm2-tools not installed (apt-get install tpm2-tools)");
        return;
    }
    let dir = TempDir::new("tpm2-tools").expect("tempdir");
    let state = dir.0.join("state");
    let port = free_port_pair();
    let server = Server::start(port, &state);

    ok(port, &["tpm2_startup", "-c"]);
    let commands = ok(port, &["tpm2_getcap", "commands"]);
    for name in [
        "TPM2_CC_PCR_Reset",
        "TPM2_CC_SelfTest",
        "TPM2_CC_Startup",
        "TPM2_CC_Shutdown",
        "TPM2_CC_GetCapability",
        "TPM2_CC_GetRandom",
        "TPM2_CC_PCR_Read",
        "TPM2_CC_PCR_Extend",
        "TPM2_CC_ReadClock",
    ] {
        assert!(commands.contains(&format!("{name}:")), "{name} missing from getcap commands");
    }
    let listed = commands.lines().filter(|l| l.starts_with("TPM2_CC_")).count();
    assert_eq!(listed, tpm20::cmd::COMMANDS.len(), "getcap commands lists exactly the implemented commands");
    let pcrs = ok(port, &["tpm2_getcap", "pcrs"]);
    let all = "[ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23 ]";
    assert!(pcrs.contains(&format!("sha1: {all}")) && pcrs.contains(&format!("sha256: {all}")), "{pcrs}");
    let fixed = ok(port, &["tpm2_getcap", "properties-fixed"]);
    assert!(fixed.contains("value: \"RUST\""), "{fixed}");
    assert!(fixed.contains("value: \"2.0\""), "{fixed}");
    assert!(fixed.contains(&format!("TPM2_PT_TOTAL_COMMANDS:\n  raw: 0x{:X}", tpm20::cmd::COMMANDS.len())), "{fixed}");

    let before = ok(port, &["tpm2_pcrread", "sha256:0,23+sha1:23"]);
    assert_eq!(pcr_value(&before, "sha256", 23).as_deref(), Some(hex(&[0; 32]).as_str()));
    let d256 = Sha256::digest(b"tpm2-tools measurement");
    let d1 = Sha1::digest(b"tpm2-tools measurement");
    let spec = format!("23:sha256={},sha1={}", hex(&d256), hex(&d1));
    ok(port, &["tpm2_pcrextend", &spec]);
    ok(port, &["tpm2_pcrextend", &format!("0:sha256={}", hex(&d256))]);
    let after = ok(port, &["tpm2_pcrread", "sha256:0,23+sha1:23"]);
    let want256 = Sha256::new().chain_update([0u8; 32]).chain_update(d256).finalize();
    let want1 = Sha1::new().chain_update([0u8; 20]).chain_update(d1).finalize();
    assert_eq!(pcr_value(&after, "sha256", 23), Some(hex(&want256)), "{after}");
    assert_eq!(pcr_value(&after, "sha256", 0), Some(hex(&want256)), "{after}");
    assert_eq!(pcr_value(&after, "sha1", 23), Some(hex(&want1)), "{after}");

    let random = ok(port, &["tpm2_getrandom", "--hex", "16"]);
    assert_eq!(random.trim().len(), 32, "{random}");
    assert!(random.trim().chars().all(|c| c.is_ascii_hexdigit()));
    ok(port, &["tpm2_selftest", "-f"]);
    ok(port, &["tpm2_shutdown"]);
    server.stop();

    // A new server process on the same state file: Startup(STATE) resumes.
    let server = Server::start(port, &state);
    ok(port, &["tpm2_startup"]);
    let resumed = ok(port, &["tpm2_pcrread", "sha256:0,23"]);
    assert_eq!(pcr_value(&resumed, "sha256", 0), Some(hex(&want256)), "PCR 0 is state-saved: {resumed}");
    assert_eq!(pcr_value(&resumed, "sha256", 23), Some(hex(&[0; 32])), "PCR 23 is not: {resumed}");
    // a second Startup is refused with TPM_RC_INITIALIZE (which tpm2_startup reports as
    // success, so it is sent raw)
    let mut raw = Tcp::connect(port).expect("connect");
    let r = raw.exec(&tpm20::testing::plain(0x144, &[0, 0])).expect("Startup");
    assert_eq!(tpm20::testing::rc(&r), 0x100);
    drop(raw);
    server.stop();
}

/// Runs a tool that must fail; returns its stderr.
fn fails(port: u16, args: &[&str]) -> String {
    let out = tool(port, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    println!("  {:<40} refused (as it must)", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tpm2_tools_seal_unseal_policy_pcr_and_persist() {
    if !Path::new("/usr/bin/tpm2_createprimary").exists() {
        println!("SKIPPED: tpm2-tools not installed (apt-get install tpm2-tools)");
        return;
    }
    let dir = TempDir::new("tpm2-tools-objects").expect("tempdir");
    let f = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
    let state = dir.0.join("state");
    let port = free_port_pair();
    let server = Server::start(port, &state);
    let flush = || ok(port, &["tpm2_flushcontext", "-t"]);
    let secret = b"a secret for systemd-cryptenroll\n";
    std::fs::write(f("secret"), secret).expect("write secret");
    let (prim, secret_path) = (f("prim.ctx"), f("secret"));

    ok(port, &["tpm2_startup", "-c"]);
    ok(port, &["tpm2_createprimary", "-C", "o", "-G", "ecc", "-c", &prim]);
    flush();
    let (key_pub, key_priv, key_ctx) = (f("key.pub"), f("key.priv"), f("key.ctx"));
    ok(port, &["tpm2_create", "-C", &prim, "-i", &secret_path, "-u", &key_pub, "-r", &key_priv]);
    flush();
    ok(port, &["tpm2_load", "-C", &prim, "-u", &key_pub, "-r", &key_priv, "-c", &key_ctx]);
    flush();
    let out = tool(port, &["tpm2_unseal", "-c", &key_ctx]);
    assert!(out.status.success(), "unseal: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, secret, "unseal gives the sealed secret");
    flush();
    // a session salted with the ECC primary, with parameter encryption (decrypt|encrypt):
    // the secret leaves the TPM encrypted under the session key
    let hmac = f("hmac.ctx");
    ok(port, &["tpm2_startauthsession", "--hmac-session", "-S", &hmac, "-c", &prim]);
    let config = ok(port, &["tpm2_sessionconfig", &hmac]);
    assert!(config.contains("decrypt|encrypt"), "{config}");
    let out = tool(port, &["tpm2_unseal", "-c", &key_ctx, "-p", &format!("session:{hmac}")]);
    assert!(out.status.success(), "salted, encrypted unseal: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, secret, "salted, encrypted unseal gives the sealed secret");
    ok(port, &["tpm2_flushcontext", &hmac]);
    flush();
    let public = ok(port, &["tpm2_readpublic", "-c", &prim]);
    assert!(
        public.contains("name: 000b") && public.contains("curve-id:") && public.contains("sym-keybits: 128"),
        "{public}"
    );
    flush();
    // the same template under the same seed gives the same primary (and Name)
    let prim2 = f("prim2.ctx");
    ok(port, &["tpm2_createprimary", "-C", "o", "-G", "ecc", "-c", &prim2]);
    flush();
    let public2 = ok(port, &["tpm2_readpublic", "-c", &prim2]);
    flush();
    assert_eq!(public.lines().next(), public2.lines().next(), "a primary is derived from the seed and template");

    // PolicyPCR: a trial session computes the policy, the object is sealed to it
    let (session, pcr_policy) = (f("session.ctx"), f("pcr.policy"));
    ok(port, &["tpm2_startauthsession", "-S", &session]);
    ok(port, &["tpm2_policypcr", "-S", &session, "-l", "sha256:7", "-L", &pcr_policy]);
    ok(port, &["tpm2_flushcontext", &session]);
    let (p_pub, p_priv, p_ctx) = (f("p.pub"), f("p.priv"), f("p.ctx"));
    ok(port, &["tpm2_create", "-C", &prim, "-L", &pcr_policy, "-i", &secret_path, "-u", &p_pub, "-r", &p_priv]);
    flush();
    ok(port, &["tpm2_load", "-C", &prim, "-u", &p_pub, "-r", &p_priv, "-c", &p_ctx]);
    flush();
    let policy_unseal = |expect_ok: bool| {
        ok(port, &["tpm2_startauthsession", "--policy-session", "-S", &session]);
        ok(port, &["tpm2_policypcr", "-S", &session, "-l", "sha256:7"]);
        let auth = format!("session:{session}");
        if expect_ok {
            let out = tool(port, &["tpm2_unseal", "-p", &auth, "-c", &p_ctx]);
            assert!(out.status.success(), "policy unseal: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.stdout, secret);
        } else {
            let err = fails(port, &["tpm2_unseal", "-p", &auth, "-c", &p_ctx]);
            assert!(err.contains("0x99D"), "TPM_RC_POLICY_FAIL + session 1: {err}");
        }
        ok(port, &["tpm2_flushcontext", &session]);
        flush();
    };
    policy_unseal(true);
    // a password cannot replace the policy (userWithAuth is CLEAR)
    fails(port, &["tpm2_unseal", "-c", &p_ctx]);
    flush();
    ok(port, &["tpm2_pcrextend", &format!("7:sha256={}", hex(&Sha256::digest(b"boot loader changed")))]);
    policy_unseal(false);

    // persist both sealed objects; a server restart on the state file keeps them
    ok(port, &["tpm2_evictcontrol", "-C", "o", "-c", &key_ctx, "0x81000002"]);
    flush();
    ok(port, &["tpm2_evictcontrol", "-C", "o", "-c", &p_ctx, "0x81000003"]);
    flush();
    let handles = ok(port, &["tpm2_getcap", "handles-persistent"]);
    assert!(handles.contains("0x81000002") && handles.contains("0x81000003"), "{handles}");
    ok(port, &["tpm2_shutdown", "-c"]);
    server.stop();

    let server = Server::start(port, &state);
    ok(port, &["tpm2_startup", "-c"]);
    let out = tool(port, &["tpm2_unseal", "-c", "0x81000002"]);
    assert!(out.status.success(), "unseal from the persistent handle: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, secret);
    // PCR 7 is back at zero after the TPM Reset: the PolicyPCR object unseals again
    ok(port, &["tpm2_startauthsession", "--policy-session", "-S", &session]);
    ok(port, &["tpm2_policypcr", "-S", &session, "-l", "sha256:7"]);
    let out = tool(port, &["tpm2_unseal", "-p", &format!("session:{session}"), "-c", "0x81000003"]);
    assert!(out.status.success(), "policy unseal after restart: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, secret);
    ok(port, &["tpm2_flushcontext", &session]);
    ok(port, &["tpm2_evictcontrol", "-C", "o", "-c", "0x81000002"]);
    let handles = ok(port, &["tpm2_getcap", "handles-persistent"]);
    assert!(!handles.contains("0x81000002") && handles.contains("0x81000003"), "{handles}");
    server.stop();
}

/// RSA (issue 12 stage 3): an RSA SRK (`tpm2_createprimary -G rsa`, timed), the same SRK
/// again from the same seed, an RSA key under it (`tpm2_create -G rsa`), sealed data under
/// the RSA SRK and its unseal, an RSA-salted session with parameter encryption,
/// `tpm2_rsaencrypt` / `tpm2_rsadecrypt` (OAEP, RSAES, raw), and `tpm2_sign` /
/// `tpm2_verifysignature` (RSASSA, RSAPSS).
#[test]
fn tpm2_tools_rsa_keys_seal_encrypt_sign() {
    if !Path::new("/usr/bin/tpm2_createprimary").exists() {
        println!("SKIPPED: tpm2-tools not installed (apt-get install tpm2-tools)");
        return;
    }
    let dir = TempDir::new("tpm2-tools-rsa").expect("tempdir");
    let f = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
    let state = dir.0.join("state");
    let port = free_port_pair();
    let server = Server::start(port, &state);
    let flush = || ok(port, &["tpm2_flushcontext", "-t"]);
    ok(port, &["tpm2_startup", "-c"]);

    let (srk, srk2) = (f("srk.ctx"), f("srk2.ctx"));
    let t = Instant::now();
    ok(port, &["tpm2_createprimary", "-C", "o", "-G", "rsa", "-c", &srk]);
    println!("  tpm2_createprimary -G rsa took {:?} (the server's build profile)", t.elapsed());
    flush();
    ok(port, &["tpm2_createprimary", "-C", "o", "-G", "rsa", "-c", &srk2]);
    flush();
    let public = ok(port, &["tpm2_readpublic", "-c", &srk]);
    flush();
    let public2 = ok(port, &["tpm2_readpublic", "-c", &srk2]);
    flush();
    assert!(
        public.contains("rsa:") && public.contains("bits: 2048") && public.contains("sym-keybits: 128"),
        "{public}"
    );
    assert_eq!(public.lines().next(), public2.lines().next(), "the same RSA primary from the same seed");
    // the EK template (tpm2_createek -G rsa: the TCG EK Credential Profile's)
    ok(port, &["tpm2_createek", "-G", "rsa", "-c", &f("ek.ctx"), "-u", &f("ek.pub")]);
    flush();

    // sealed data under the RSA SRK
    let secret = b"sealed under an RSA storage key\n";
    std::fs::write(f("secret"), secret).expect("write secret");
    let (s_pub, s_priv, s_ctx) = (f("s.pub"), f("s.priv"), f("s.ctx"));
    ok(port, &["tpm2_create", "-C", &srk, "-i", &f("secret"), "-u", &s_pub, "-r", &s_priv]);
    flush();
    ok(port, &["tpm2_load", "-C", &srk, "-u", &s_pub, "-r", &s_priv, "-c", &s_ctx]);
    flush();
    let out = tool(port, &["tpm2_unseal", "-c", &s_ctx]);
    assert!(out.status.success(), "unseal: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, secret);
    flush();
    // an RSA-salted session (OAEP "SECRET") with parameter encryption
    let hmac = f("hmac.ctx");
    ok(port, &["tpm2_startauthsession", "--hmac-session", "-S", &hmac, "-c", &srk]);
    let out = tool(port, &["tpm2_unseal", "-c", &s_ctx, "-p", &format!("session:{hmac}")]);
    assert!(out.status.success(), "RSA-salted, encrypted unseal: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, secret);
    ok(port, &["tpm2_flushcontext", &hmac]);
    flush();

    // an RSA key under the RSA SRK: encrypt / decrypt
    let (k_pub, k_priv, k_ctx) = (f("k.pub"), f("k.priv"), f("k.ctx"));
    ok(port, &["tpm2_create", "-C", &srk, "-G", "rsa2048", "-u", &k_pub, "-r", &k_priv]);
    flush();
    ok(port, &["tpm2_load", "-C", &srk, "-u", &k_pub, "-r", &k_priv, "-c", &k_ctx]);
    flush();
    let msg = b"rsa message";
    std::fs::write(f("msg"), msg).expect("write msg");
    for scheme in ["oaep", "rsaes", "null"] {
        let (ct, pt) = (f(&format!("{scheme}.enc")), f(&format!("{scheme}.dec")));
        ok(port, &["tpm2_rsaencrypt", "-c", &k_ctx, "-s", scheme, "-o", &ct, &f("msg")]);
        flush();
        assert_eq!(std::fs::metadata(&ct).expect("ciphertext").len(), 256);
        ok(port, &["tpm2_rsadecrypt", "-c", &k_ctx, "-s", scheme, "-o", &pt, &ct]);
        flush();
        let plain = std::fs::read(&pt).expect("plaintext");
        assert!(plain.ends_with(msg), "{scheme}: {plain:02x?}");
    }
    // sign / verify: RSASSA and RSAPSS over a SHA-256 digest (tpm2_sign -d: the digest is
    // given, so no TPM2_Hash ticket is needed for this unrestricted key)
    std::fs::write(f("digest"), Sha256::digest(msg)).expect("write digest");
    std::fs::write(f("other"), Sha256::digest(b"another message")).expect("write");
    for scheme in ["rsassa", "rsapss"] {
        let sig = f(&format!("{scheme}.sig"));
        ok(port, &["tpm2_sign", "-c", &k_ctx, "-g", "sha256", "-s", scheme, "-d", "-o", &sig, &f("digest")]);
        flush();
        ok(port, &["tpm2_verifysignature", "-c", &k_ctx, "-d", &f("digest"), "-s", &sig]);
        flush();
        fails(port, &["tpm2_verifysignature", "-c", &k_ctx, "-d", &f("other"), "-s", &sig]);
        flush();
    }
    server.stop();
}

/// NV (issue 12 stage 3): `tpm2_nvdefine` (data, counter, bits, extend; owner and index
/// authorization), `tpm2_nvwrite` / `tpm2_nvread` (the same bytes back), `tpm2_nvincrement`,
/// `tpm2_nvsetbits`, `tpm2_nvextend` (checked against a host SHA-256), `tpm2_nvreadpublic`,
/// `tpm2_getcap handles-nv-index`, `tpm2_nvwritelock` / `tpm2_nvreadlock`, a server restart
/// on its state file (the indices and their data persist), `tpm2_nvundefine`.
#[test]
fn tpm2_tools_nv() {
    if !Path::new("/usr/bin/tpm2_nvdefine").exists() {
        println!("SKIPPED: tpm2-tools not installed (apt-get install tpm2-tools)");
        return;
    }
    let dir = TempDir::new("tpm2-tools-nv").expect("tempdir");
    let f = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
    let state = dir.0.join("state");
    let port = free_port_pair();
    let server = Server::start(port, &state);
    ok(port, &["tpm2_startup", "-c"]);

    // data: owner authorization (ownerread|ownerwrite), 32 bytes
    ok(port, &["tpm2_nvdefine", "0x1500010", "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite|authread|authwrite"]);
    let data = b"NV data written by tpm2_nvwrite";
    std::fs::write(f("data"), data).expect("write");
    ok(port, &["tpm2_nvwrite", "0x1500010", "-C", "o", "-i", &f("data")]);
    let out = tool(port, &["tpm2_nvread", "0x1500010", "-C", "o", "-s", &data.len().to_string()]);
    assert!(out.status.success(), "nvread: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
    // index authorization with a password
    ok(port, &["tpm2_nvdefine", "0x1500011", "-C", "o", "-s", "8", "-a", "authread|authwrite", "-p", "nvpass"]);
    std::fs::write(f("eight"), b"12345678").expect("write");
    ok(port, &["tpm2_nvwrite", "0x1500011", "-C", "0x1500011", "-P", "nvpass", "-i", &f("eight")]);
    let out = tool(port, &["tpm2_nvread", "0x1500011", "-C", "0x1500011", "-P", "nvpass"]);
    assert!(out.status.success(), "nvread with the index auth: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"12345678");
    let err = fails(port, &["tpm2_nvread", "0x1500011", "-C", "0x1500011", "-P", "wrong"]);
    assert!(err.contains("0x98E") || err.contains("authorization"), "{err}");
    // counter
    ok(port, &["tpm2_nvdefine", "0x1500012", "-C", "o", "-s", "8", "-a", "nt=counter|ownerread|ownerwrite"]);
    ok(port, &["tpm2_nvincrement", "0x1500012", "-C", "o"]);
    ok(port, &["tpm2_nvincrement", "0x1500012", "-C", "o"]);
    let out = tool(port, &["tpm2_nvread", "0x1500012", "-C", "o"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, 2u64.to_be_bytes(), "two increments");
    // bits
    ok(port, &["tpm2_nvdefine", "0x1500013", "-C", "o", "-s", "8", "-a", "nt=bits|ownerread|ownerwrite"]);
    ok(port, &["tpm2_nvsetbits", "0x1500013", "-C", "o", "-i", "0x5"]);
    ok(port, &["tpm2_nvsetbits", "0x1500013", "-C", "o", "-i", "0x100"]);
    let out = tool(port, &["tpm2_nvread", "0x1500013", "-C", "o"]);
    assert_eq!(out.stdout, 0x105u64.to_be_bytes(), "bits ORed");
    // extend
    ok(
        port,
        &["tpm2_nvdefine", "0x1500014", "-C", "o", "-s", "32", "-a", "nt=extend|ownerread|ownerwrite", "-g", "sha256"],
    );
    std::fs::write(f("ext"), b"measured").expect("write");
    ok(port, &["tpm2_nvextend", "0x1500014", "-C", "o", "-i", &f("ext")]);
    let out = tool(port, &["tpm2_nvread", "0x1500014", "-C", "o"]);
    let want = Sha256::new().chain_update([0u8; 32]).chain_update(b"measured").finalize();
    assert_eq!(out.stdout, want.as_slice(), "SHA-256(zeros ‖ data)");
    // readpublic and the handle list
    let public = ok(port, &["tpm2_nvreadpublic", "0x1500012"]);
    assert!(public.contains("0x1500012") && public.contains("nt=0x1") && public.contains("written"), "{public}");
    let handles = ok(port, &["tpm2_getcap", "handles-nv-index"]);
    for h in ["0x1500010", "0x1500011", "0x1500012", "0x1500013", "0x1500014"] {
        assert!(handles.contains(h), "{h} in {handles}");
    }
    // locks
    ok(
        port,
        &["tpm2_nvdefine", "0x1500015", "-C", "o", "-s", "4", "-a", "ownerread|ownerwrite|write_stclear|read_stclear"],
    );
    std::fs::write(f("four"), b"lock").expect("write");
    ok(port, &["tpm2_nvwrite", "0x1500015", "-C", "o", "-i", &f("four")]);
    ok(port, &["tpm2_nvwritelock", "0x1500015", "-C", "o"]);
    let err = fails(port, &["tpm2_nvwrite", "0x1500015", "-C", "o", "-i", &f("four")]);
    assert!(err.contains("0x148") || err.contains("locked"), "TPM_RC_NV_LOCKED: {err}");
    ok(port, &["tpm2_nvreadlock", "0x1500015", "-C", "o"]);
    fails(port, &["tpm2_nvread", "0x1500015", "-C", "o"]);
    // a restart on the state file: the indices and their data are kept, the STCLEAR locks end
    ok(port, &["tpm2_shutdown", "-c"]);
    server.stop();
    let server = Server::start(port, &state);
    ok(port, &["tpm2_startup", "-c"]);
    let out = tool(port, &["tpm2_nvread", "0x1500010", "-C", "o", "-s", &data.len().to_string()]);
    assert_eq!(out.stdout, data, "NV data persists");
    let out = tool(port, &["tpm2_nvread", "0x1500012", "-C", "o"]);
    assert_eq!(out.stdout, 2u64.to_be_bytes(), "the counter persists");
    ok(port, &["tpm2_nvwrite", "0x1500015", "-C", "o", "-i", &f("four")]);
    let out = tool(port, &["tpm2_nvread", "0x1500015", "-C", "o"]);
    assert_eq!(out.stdout, b"lock");
    // undefine
    for h in ["0x1500010", "0x1500011", "0x1500012", "0x1500013", "0x1500014", "0x1500015"] {
        ok(port, &["tpm2_nvundefine", h, "-C", "o"]);
    }
    let handles = ok(port, &["tpm2_getcap", "handles-nv-index"]);
    assert!(!handles.contains("0x15000"), "{handles}");
    fails(port, &["tpm2_nvreadpublic", "0x1500010"]);
    server.stop();
}
