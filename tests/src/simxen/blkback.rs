//! A simulated block backend in its own domain, behind a memory disk, with the xenstore
//! behaviour of the two backends a Xen host uses: Linux blkback (`feature-barrier` and
//! `feature-flush-cache`, disk keys written when connecting) and QEMU's qdisk (no barrier, keys
//! written at InitWait). It maps the frontend's ring and data grants through the same driver
//! traits and can inject faults: failing sector ranges, unsupported flush, completing requests
//! in reverse order, a few at a time.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::hv::{DomId, EventChannels, EvtchnPort, GrantRef, GrantTable, PageAccess, XenStore, XsTx};
use xen_abi::blkif::{self, BlkifRequest, BlkifResponse, SLOT_SIZE};

use super::{SimDomain, SimMapping, World};

/// Which backend to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Linux blkback (`phy:` / `script=block`).
    LinuxBlkback,
    /// QEMU qdisk (`file:`).
    Qdisk,
}

/// Knobs and counters shared with the test.
#[derive(Default, Debug)]
pub struct Control {
    /// Byte ranges `[start, end)` whose I/O fails with `BLKIF_RSP_ERROR`.
    pub fail: Vec<(u64, u64)>,
    /// Answer flushes with `BLKIF_RSP_EOPNOTSUPP`.
    pub flush_unsupported: bool,
    /// Complete the requests taken in one step in reverse order.
    pub reverse: bool,
    /// Take at most this many requests per step (0 = all).
    pub max_per_step: usize,
    /// Reads, writes, flushes, barriers done.
    pub reads: u64,
    /// See `reads`.
    pub writes: u64,
    /// See `reads`.
    pub flushes: u64,
    /// See `reads`.
    pub barriers: u64,
    /// Answer the next request with an id nobody asked for (a buggy backend), once.
    pub bogus_response: bool,
}

struct Inst {
    be_dir: String,
    fe_dir: String,
    fe: u16,
    ring: Option<SimMapping>,
    port: Option<EvtchnPort>,
    req_cons: u32,
    rsp_prod: u32,
}

/// The backend.
pub struct Blkback {
    dom: SimDomain,
    /// The disk's bytes.
    pub disk: Rc<RefCell<Vec<u8>>>,
    flavor: Flavor,
    sector_size: u32,
    readonly: bool,
    /// Knobs and counters.
    pub ctl: Rc<RefCell<Control>>,
    insts: Vec<Inst>,
}

const TOKEN: &str = "blkback";

impl Blkback {
    /// A backend in domain `be` serving `disk`, registered as an actor of the world.
    pub fn spawn(
        world: &World,
        be: u16,
        flavor: Flavor,
        disk: Rc<RefCell<Vec<u8>>>,
        sector_size: u32,
        readonly: bool,
    ) -> Rc<RefCell<Control>> {
        let mut dom = world.domain(be);
        dom.watch("backend/vbd", TOKEN).expect("watch");
        let ctl = Rc::new(RefCell::new(Control::default()));
        let mut me = Blkback { dom, disk, flavor, sector_size, readonly, ctl: ctl.clone(), insts: vec![] };
        world.add_actor(be, move || me.step());
        ctl
    }

    fn xs(&mut self, path: &str) -> Option<String> {
        self.dom.read(XsTx::NONE, path).ok()
    }

    fn put(&mut self, path: &str, v: &str) {
        let _ = self.dom.write(XsTx::NONE, path, v);
    }

    fn write_disk_keys(&mut self, be_dir: &str) {
        let sectors = self.disk.borrow().len() as u64 / 512;
        self.put(&format!("{be_dir}/sectors"), &sectors.to_string());
        self.put(&format!("{be_dir}/sector-size"), &self.sector_size.to_string());
        self.put(&format!("{be_dir}/info"), if self.readonly { "4" } else { "0" });
        self.put(&format!("{be_dir}/feature-flush-cache"), "1");
        if self.flavor == Flavor::LinuxBlkback {
            self.put(&format!("{be_dir}/feature-barrier"), "1");
            self.put(&format!("{be_dir}/physical-sector-size"), &self.sector_size.to_string());
        }
    }

    fn step(&mut self) {
        let mut changed = false;
        while self.dom.next_watch_event(TOKEN).is_some() {
            changed = true;
        }
        if changed {
            self.reconcile();
        }
        for i in 0..self.insts.len() {
            self.serve(i);
        }
    }

    fn reconcile(&mut self) {
        let mut dirs = vec![];
        for fe in self.dom.directory(XsTx::NONE, "backend/vbd").unwrap_or_default() {
            for dev in self.dom.directory(XsTx::NONE, &format!("backend/vbd/{fe}")).unwrap_or_default() {
                dirs.push((fe.parse::<u16>().unwrap_or(0), format!("backend/vbd/{fe}/{dev}")));
            }
        }
        for (fe, be_dir) in dirs {
            if self.insts.iter().any(|i| i.be_dir == be_dir) {
                continue;
            }
            let Some(fe_dir) = self.xs(&format!("{be_dir}/frontend")) else { continue };
            let _ = self.dom.watch(&format!("{fe_dir}/state"), TOKEN);
            if self.flavor == Flavor::Qdisk {
                self.write_disk_keys(&be_dir);
            }
            self.put(&format!("{be_dir}/state"), "2");
            self.insts.push(Inst { be_dir, fe_dir, fe, ring: None, port: None, req_cons: 0, rsp_prod: 0 });
        }
        for i in 0..self.insts.len() {
            let fe_state = self.xs(&format!("{}/state", self.insts[i].fe_dir)).and_then(|s| s.parse::<u8>().ok());
            let be_dir = self.insts[i].be_dir.clone();
            match fe_state {
                Some(3) | Some(4) if self.insts[i].ring.is_none() => self.connect(i),
                Some(5) => {
                    self.disconnect(i);
                    self.put(&format!("{be_dir}/state"), "5");
                }
                Some(6) | None => {
                    self.disconnect(i);
                    self.put(&format!("{be_dir}/state"), "6");
                }
                Some(1) if self.xs(&format!("{be_dir}/state")).as_deref() == Some("6") => {
                    self.put(&format!("{be_dir}/state"), "2")
                }
                _ => {}
            }
        }
    }

    fn connect(&mut self, i: usize) {
        let (fe, fe_dir, be_dir) = (self.insts[i].fe, self.insts[i].fe_dir.clone(), self.insts[i].be_dir.clone());
        let ring: Option<u32> = self.xs(&format!("{fe_dir}/ring-ref")).and_then(|s| s.parse().ok());
        let evt: Option<u32> = self.xs(&format!("{fe_dir}/event-channel")).and_then(|s| s.parse().ok());
        let (Some(ring), Some(evt)) = (ring, evt) else { return };
        let Ok(map) = self.dom.map_grant_ref(DomId(fe), GrantRef(ring), false) else {
            self.put(&format!("{be_dir}/state"), "6");
            return;
        };
        let Ok(port) = self.dom.bind_interdomain(DomId(fe), EvtchnPort(evt)) else {
            let _ = self.dom.unmap_grant_ref(map);
            self.put(&format!("{be_dir}/state"), "6");
            return;
        };
        if self.flavor == Flavor::LinuxBlkback {
            self.write_disk_keys(&be_dir);
        }
        let inst = &mut self.insts[i];
        inst.ring = Some(map);
        inst.port = Some(port);
        inst.req_cons = 0;
        inst.rsp_prod = 0;
        self.put(&format!("{be_dir}/state"), "4");
    }

    fn disconnect(&mut self, i: usize) {
        if let Some(m) = self.insts[i].ring.take() {
            let _ = self.dom.unmap_grant_ref(m);
        }
        if let Some(p) = self.insts[i].port.take() {
            self.dom.close(p);
        }
    }

    fn serve(&mut self, i: usize) {
        let Some(ring) = self.insts[i].ring.as_ref() else { return };
        let Ok(prod) = ring.read_u32_le(blkif::OFFSET_REQ_PROD) else { return };
        let mut reqs = vec![];
        let max = self.ctl.borrow().max_per_step;
        while self.insts[i].req_cons != prod && (max == 0 || reqs.len() < max) {
            let mut raw = [0u8; SLOT_SIZE];
            let ring = self.insts[i].ring.as_ref().unwrap();
            if ring.read(blkif::slot_offset(self.insts[i].req_cons), &mut raw).is_err() {
                return;
            }
            self.insts[i].req_cons = self.insts[i].req_cons.wrapping_add(1);
            reqs.push(BlkifRequest::decode(&raw));
        }
        if reqs.is_empty() {
            return;
        }
        if self.ctl.borrow().reverse {
            reqs.reverse();
        }
        let fe = self.insts[i].fe;
        let mut rsps: Vec<BlkifResponse> = reqs
            .iter()
            .map(|r| BlkifResponse { id: r.id, operation: r.operation, pad: 0, status: self.execute(fe, r) })
            .collect();
        if std::mem::take(&mut self.ctl.borrow_mut().bogus_response) {
            rsps[0].id = 0xdead_beef;
        }
        let inst = &mut self.insts[i];
        let ring = inst.ring.as_mut().unwrap();
        let old = inst.rsp_prod;
        for r in rsps {
            let _ = ring.write(blkif::slot_offset(inst.rsp_prod), &r.encode());
            inst.rsp_prod = inst.rsp_prod.wrapping_add(1);
        }
        let _ = ring.write_u32_le(blkif::OFFSET_RSP_PROD, inst.rsp_prod);
        let _ = ring.write_u32_le(blkif::OFFSET_REQ_EVENT, inst.req_cons.wrapping_add(1));
        let ev = ring.read_u32_le(blkif::OFFSET_RSP_EVENT).unwrap_or(0);
        if blkif::need_notify(old, inst.rsp_prod, ev)
            && let Some(p) = inst.port
        {
            let _ = self.dom.notify(p);
        }
    }

    fn execute(&mut self, fe: u16, r: &BlkifRequest) -> i16 {
        let mut ctl = self.ctl.borrow_mut();
        match r.operation {
            blkif::BLKIF_OP_FLUSH_DISKCACHE => {
                ctl.flushes += 1;
                return if ctl.flush_unsupported { blkif::BLKIF_RSP_EOPNOTSUPP } else { blkif::BLKIF_RSP_OKAY };
            }
            blkif::BLKIF_OP_WRITE_BARRIER if self.flavor == Flavor::LinuxBlkback && r.nr_segments == 0 => {
                ctl.barriers += 1;
                return blkif::BLKIF_RSP_OKAY;
            }
            blkif::BLKIF_OP_READ | blkif::BLKIF_OP_WRITE => {}
            _ => return blkif::BLKIF_RSP_EOPNOTSUPP,
        }
        let write = r.operation == blkif::BLKIF_OP_WRITE;
        if r.nr_segments == 0
            || usize::from(r.nr_segments) > blkif::BLKIF_MAX_SEGMENTS_PER_REQUEST
            || (write && self.readonly)
        {
            return blkif::BLKIF_RSP_ERROR;
        }
        let mut pos = r.sector_number.saturating_mul(512);
        for s in &r.seg[..usize::from(r.nr_segments)] {
            if s.first_sect > s.last_sect || s.last_sect > 7 {
                return blkif::BLKIF_RSP_ERROR;
            }
            let len = (usize::from(s.last_sect - s.first_sect) + 1) * 512;
            let end = pos + len as u64;
            if end > self.disk.borrow().len() as u64 || ctl.fail.iter().any(|(a, b)| pos < *b && *a < end) {
                return blkif::BLKIF_RSP_ERROR;
            }
            let Ok(mut m) = self.dom.map_grant_ref(DomId(fe), GrantRef(s.gref), write) else {
                return blkif::BLKIF_RSP_ERROR;
            };
            let off = usize::from(s.first_sect) * 512;
            let mut disk = self.disk.borrow_mut();
            let range = pos as usize..end as usize;
            let ok = if write { m.read(off, &mut disk[range]).is_ok() } else { m.write(off, &disk[range]).is_ok() };
            drop(disk);
            let _ = self.dom.unmap_grant_ref(m);
            if !ok {
                return blkif::BLKIF_RSP_ERROR;
            }
            pos = end;
        }
        if write {
            ctl.writes += 1
        } else {
            ctl.reads += 1
        }
        blkif::BLKIF_RSP_OKAY
    }
}
