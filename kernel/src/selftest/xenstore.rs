//! Selftest checks of the xenstore client against the real xenstored (domU only).

use alloc::format;
use alloc::string::String;

use crate::image::Env;
use crate::time;
use crate::xenstore::{XsError, XsTx};
use xen_hv::{Clock, XenStore, with_transaction};

fn xs(env: &mut Env) -> Result<&mut crate::image::XsRingClient, String> {
    env.xs.as_mut().ok_or_else(|| String::from("no xenstore"))
}

fn xe(what: &str) -> impl Fn(XsError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

pub(super) fn check_xs_identity(env: &mut Env) -> Result<(), String> {
    let domid = env.domid;
    let x = xs(env)?;
    let path = x.read("domid").map_err(xe("read domid"))?;
    ensure!(path.parse::<u16>() == Ok(domid.0), "domid {path} vs {}", domid.0);
    let name = x.read("name").map_err(xe("read name"))?;
    ensure!(!name.is_empty(), "empty name");
    Ok(())
}

pub(super) const DIR: &str = "data/kernel-selftest";

pub(super) fn check_xs_write_read(env: &mut Env) -> Result<(), String> {
    let x = xs(env)?;
    let value = format!("hello from {}", time::now_ns());
    x.write(&format!("{DIR}/value"), &value).map_err(xe("write"))?;
    let back = x.read(&format!("{DIR}/value")).map_err(xe("read"))?;
    ensure!(back == value, "read back {back:?}");
    let abs = format!("/local/domain/{}/{DIR}/value", env.domid.0);
    let x = xs(env)?;
    let back = x.read(&abs).map_err(xe("read absolute"))?;
    ensure!(back == value, "absolute path read {back:?}");
    Ok(())
}

pub(super) fn check_xs_directory(env: &mut Env) -> Result<(), String> {
    let x = xs(env)?;
    x.mkdir(&format!("{DIR}/dir")).map_err(xe("mkdir"))?;
    x.write(&format!("{DIR}/dir/a"), "1").map_err(xe("write a"))?;
    x.write(&format!("{DIR}/dir/b"), "2").map_err(xe("write b"))?;
    let mut names = x.directory(&format!("{DIR}/dir")).map_err(xe("directory"))?;
    names.sort();
    ensure!(names == ["a", "b"], "directory lists {names:?}");
    Ok(())
}

pub(super) fn check_xs_rm(env: &mut Env) -> Result<(), String> {
    let x = xs(env)?;
    x.write(&format!("{DIR}/gone"), "x").map_err(xe("write"))?;
    x.rm(&format!("{DIR}/gone")).map_err(xe("rm"))?;
    let r = x.read(&format!("{DIR}/gone"));
    ensure!(r == Err(XsError::NoEnt), "read after rm gave {r:?}");
    let r = x.read("/local/domain/0/no-such-node-here");
    ensure!(matches!(r, Err(XsError::NoEnt) | Err(XsError::Access)), "foreign read gave {r:?}");
    Ok(())
}

pub(super) fn check_xs_watch(env: &mut Env) -> Result<(), String> {
    let path = format!("{DIR}/watched");
    let token = "selftest-watch";
    {
        let x = xs(env)?;
        x.write(&path, "0").map_err(xe("write"))?;
        x.watch(&path, token).map_err(xe("watch"))?;
    }
    // Consume the initial firing, then expect one for our write.
    let deadline = time::now_ns() + 2_000_000_000;
    let mut initial = false;
    let mut after_write = false;
    let mut wrote = false;
    while time::now_ns() < deadline && !after_write {
        if initial && !wrote {
            xs(env)?.write(&path, "1").map_err(xe("write 1"))?;
            wrote = true;
        }
        // Up to 200 ms for the next event of our token, through the loop's one blocking call.
        let slice_end = deadline.min(time::now_ns() + 200_000_000);
        let event = loop {
            if let Some(p) = env.next_watch_event(token) {
                break Some(p);
            }
            if time::now_ns() >= slice_end {
                break None;
            }
            env.wait_until(slice_end);
        };
        match event {
            Some(p) => {
                if !initial {
                    initial = true;
                } else if wrote {
                    after_write = p == path;
                }
            }
            None if !initial => {
                // The initial event is optional in some xenstored versions; go on.
                initial = true;
            }
            None => {}
        }
    }
    xs(env)?.unwatch(&path, token).map_err(xe("unwatch"))?;
    ensure!(after_write, "no watch event for the write");
    Ok(())
}

pub(super) fn check_xs_transaction(env: &mut Env) -> Result<(), String> {
    let x = xs(env)?;
    let a = format!("{DIR}/tx/a");
    let b = format!("{DIR}/tx/b");
    with_transaction(x, |x, tx| {
        x.write_tx(tx, &a, "A")?;
        x.write_tx(tx, &b, "B")?;
        Ok(())
    })
    .map_err(xe("transaction"))?;
    ensure!(x.read(&a).as_deref() == Ok("A") && x.read(&b).as_deref() == Ok("B"), "commit not visible");
    // An aborted transaction leaves nothing behind.
    let tx = x.transaction_start().map_err(xe("start"))?;
    x.write_tx(tx, &format!("{DIR}/tx/aborted"), "x").map_err(xe("write in tx"))?;
    x.transaction_end(tx, false).map_err(xe("abort"))?;
    let r = x.read(&format!("{DIR}/tx/aborted"));
    ensure!(r == Err(XsError::NoEnt), "aborted write visible: {r:?}");
    Ok(())
}

pub(super) fn check_xs_conflict(env: &mut Env) -> Result<(), String> {
    let x = xs(env)?;
    let key = format!("{DIR}/counter");
    x.write(&key, "0").map_err(xe("init"))?;
    // A raw conflict: read+write inside a transaction, change the node outside, commit.
    let tx = x.transaction_start().map_err(xe("start"))?;
    let v = x.read_tx(tx, &key).map_err(xe("read in tx"))?;
    x.write_tx(tx, &key, &format!("{v}1")).map_err(xe("write in tx"))?;
    x.write_tx(XsTx::NONE, &key, "outside").map_err(xe("outside write"))?;
    let r = x.transaction_end(tx, true);
    ensure!(r == Err(XsError::Again), "conflicting commit gave {r:?}");
    // The helper retries: the first attempt is made to conflict, the second commits.
    let mut attempts = 0;
    let k2 = key.clone();
    with_transaction(x, |x, tx| {
        attempts += 1;
        let v = x.read_tx(tx, &k2)?;
        if attempts == 1 {
            x.write_tx(XsTx::NONE, &k2, "bumped")?;
        }
        x.write_tx(tx, &k2, &format!("{v}+1"))
    })
    .map_err(xe("retried transaction"))?;
    ensure!(attempts == 2, "transaction body ran {attempts} times");
    let v = x.read(&key).map_err(xe("read"))?;
    ensure!(v == "bumped+1", "final value {v:?}");
    let _ = x.rm(DIR);
    Ok(())
}
