//! A TIS 1.2 / PTP FIFO register model (five localities, TCG PC Client TIS state machine:
//! Idle → Ready → Reception → Execution → Completion) in front of a TPM engine, as QEMU's
//! tpm-tis presents swtpm: DID/VID, RID, INTF_CAPS with the interface version of the family
//! (QEMU: 2 for TPM 1.2, 3 for TPM 2.0), the PTP family bits in STS, a burst count, and a
//! command that takes virtual time to execute. It implements `drivers::hv::Mmio`.
//!
//! Localities follow TIS 1.2 `TPM_ACCESS_x` as QEMU implements it: `requestUse` is granted at
//! once when no locality is active, else it stays pending (shown as `requestUse` on the
//! requester's page and `pendingRequest` on every other page) until the active one
//! relinquishes (the highest waiting locality wins); `Seize` from a locality above the active
//! one (or with none active) takes the TPM at once, drops the holder's command and sets the
//! holder's `beenSeized` (cleared by writing it); `Seize` from a lower locality is ignored.
//! [`Tis::foreign_request`] is another party (firmware, dom0) asking for a locality; with
//! `tpmEstablishment` set, the values read match the test bed's (`0xa5` for firmware's
//! locality 0, `0x83` for a pending locality 2).

use std::cell::RefCell;
use std::rc::Rc;

use drivers::hv::Mmio;
use drivers::tpm_tis::regs::*;

use super::World;

/// An engine behind the registers: (locality, command) → response.
pub type TisEngine = Box<dyn FnMut(u8, &[u8]) -> Vec<u8>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Idle,
    Ready,
    Reception,
    Execution { done_at: u64 },
    Completion,
}

/// The model's state (shared by all handles).
pub struct TisModel {
    world: World,
    tpm2: bool,
    did_vid: u32,
    rid: u8,
    intf_caps: u32,
    active: Option<u8>,
    pending: [bool; 5],
    seized: [bool; 5],
    st: St,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    outpos: usize,
    engine: TisEngine,
    /// Burst count offered.
    pub burst: u16,
    /// How long a command executes (virtual ns).
    pub exec_ns: u64,
    /// Commands executed: (locality, bytes).
    pub commands: Vec<(u8, Vec<u8>)>,
    /// Commands aborted by commandReady during execution.
    pub aborted: u32,
    /// `Seize` writes seen (granted or not).
    pub seize_writes: u32,
    /// `tpmEstablishment` as read in every `TPM_ACCESS_x`.
    pub establishment: bool,
}

/// A handle implementing `Mmio` over the whole 5-locality window.
#[derive(Clone)]
pub struct Tis(pub Rc<RefCell<TisModel>>);

impl Tis {
    /// A TPM 1.2 (`tpm2 = false`) or 2.0 chip.
    pub fn new(world: &World, tpm2: bool, engine: TisEngine) -> Tis {
        let (did_vid, caps) =
            if tpm2 { (0x0001_1014, (3 << 28) | 0x100 | 0x1F) } else { (0x0001_1014, (2 << 28) | 0x100 | 0x1F) };
        Tis(Rc::new(RefCell::new(TisModel {
            world: world.clone(),
            tpm2,
            did_vid,
            rid: 1,
            intf_caps: caps,
            active: None,
            pending: [false; 5],
            seized: [false; 5],
            st: St::Idle,
            inbuf: vec![],
            outbuf: vec![],
            outpos: 0,
            engine,
            burst: 32,
            exec_ns: 2_000_000,
            commands: vec![],
            aborted: 0,
            seize_writes: 0,
            establishment: true,
        })))
    }

    /// Another party asks for locality `l` (as dom0's driver would, or firmware that then
    /// never relinquishes it).
    pub fn foreign_request(&self, l: u8) {
        let mut m = self.0.borrow_mut();
        if m.active.is_none() {
            m.active = Some(l);
        } else {
            m.pending[usize::from(l)] = true;
        }
    }

    /// The active locality.
    pub fn active(&self) -> Option<u8> {
        self.0.borrow().active
    }
}

impl TisModel {
    fn expected_len(&self) -> Option<usize> {
        if self.inbuf.len() < 6 {
            return None;
        }
        Some(u32::from_be_bytes(self.inbuf[2..6].try_into().unwrap()) as usize)
    }

    fn expecting(&self) -> bool {
        match self.expected_len() {
            None => true,
            Some(n) => self.inbuf.len() < n,
        }
    }

    fn settle(&mut self) {
        if let St::Execution { done_at } = self.st
            && self.world.now() >= done_at
        {
            self.st = St::Completion;
        }
    }

    fn sts(&mut self, l: u8) -> u32 {
        if self.active != Some(l) {
            return 0xFFFF_FFFF;
        }
        self.settle();
        let burst = u32::from(self.burst);
        let (bits, b) = match self.st {
            St::Idle => (STS_VALID, 0),
            St::Ready => (STS_VALID | STS_COMMAND_READY, burst),
            St::Reception => (STS_VALID | if self.expecting() { STS_DATA_EXPECT } else { 0 }, burst),
            St::Execution { .. } => (STS_VALID, 0),
            St::Completion => {
                let left = self.outbuf.len() - self.outpos;
                (STS_VALID | if left > 0 { STS_DATA_AVAIL } else { 0 }, burst.min(left as u32))
            }
        };
        let family = if self.tpm2 { 1 << 26 } else { 0 };
        u32::from(bits) | (b << 8) | family
    }

    fn read(&mut self, off: usize) -> u32 {
        let (l, reg) = ((off / LOCALITY_STRIDE) as u8, off % LOCALITY_STRIDE);
        if l >= NR_LOCALITIES {
            return 0xFFFF_FFFF;
        }
        match reg {
            ACCESS => {
                let li = usize::from(l);
                let mut v = ACCESS_VALID;
                if self.establishment {
                    v |= ACCESS_ESTABLISHMENT;
                }
                if self.active == Some(l) {
                    v |= ACCESS_ACTIVE_LOCALITY;
                }
                if self.pending[li] {
                    v |= ACCESS_REQUEST_USE;
                }
                if self.pending.iter().enumerate().any(|(i, p)| *p && i != li) {
                    v |= ACCESS_REQUEST_PENDING;
                }
                if self.seized[li] {
                    v |= ACCESS_BEEN_SEIZED;
                }
                u32::from(v)
            }
            INTF_CAPS => self.intf_caps,
            INT_ENABLE => 0,
            STS => self.sts(l),
            BURST_COUNT_LO => self.sts(l) >> 8,
            BURST_COUNT_HI => self.sts(l) >> 16,
            DATA_FIFO => {
                if self.active != Some(l) {
                    return 0xFF;
                }
                self.settle();
                if self.st == St::Completion && self.outpos < self.outbuf.len() {
                    self.outpos += 1;
                    u32::from(self.outbuf[self.outpos - 1])
                } else {
                    0xFF
                }
            }
            DID_VID => self.did_vid,
            RID => u32::from(self.rid),
            _ => 0xFFFF_FFFF,
        }
    }

    fn write(&mut self, off: usize, v: u32) {
        let (l, reg) = ((off / LOCALITY_STRIDE) as u8, off % LOCALITY_STRIDE);
        if l >= NR_LOCALITIES {
            return;
        }
        match reg {
            ACCESS => {
                let v = v as u8;
                if v & ACCESS_REQUEST_USE != 0 {
                    if self.active.is_none() {
                        self.active = Some(l);
                    } else if self.active != Some(l) {
                        self.pending[usize::from(l)] = true;
                    }
                }
                if v & ACCESS_SEIZE != 0 {
                    self.seize_writes += 1;
                    if self.active.is_none_or(|a| l > a) {
                        if let Some(old) = self.active {
                            self.seized[usize::from(old)] = true;
                            if matches!(self.st, St::Execution { .. }) {
                                self.aborted += 1;
                            }
                        }
                        self.st = St::Idle;
                        self.inbuf.clear();
                        self.outbuf.clear();
                        self.outpos = 0;
                        self.active = Some(l);
                        self.pending[usize::from(l)] = false;
                    }
                }
                if v & ACCESS_BEEN_SEIZED != 0 {
                    self.seized[usize::from(l)] = false;
                }
                if v & ACCESS_ACTIVE_LOCALITY != 0 && self.active == Some(l) {
                    self.active = None;
                    self.st = St::Idle;
                    // The highest waiting locality gets it.
                    if let Some(n) = (0..5).rev().find(|&i| self.pending[i]) {
                        self.pending[n] = false;
                        self.active = Some(n as u8);
                    }
                }
            }
            STS if self.active == Some(l) => {
                let v = v as u8;
                self.settle();
                if v & STS_COMMAND_READY != 0 {
                    if matches!(self.st, St::Execution { .. }) {
                        self.aborted += 1;
                    }
                    self.st = St::Ready;
                    self.inbuf.clear();
                    self.outbuf.clear();
                    self.outpos = 0;
                } else if v & STS_GO != 0 && self.st == St::Reception && !self.expecting() {
                    let cmd = std::mem::take(&mut self.inbuf);
                    self.outbuf = (self.engine)(l, &cmd);
                    self.commands.push((l, cmd));
                    self.outpos = 0;
                    self.st = St::Execution { done_at: self.world.now() + self.exec_ns };
                } else if v & STS_RESPONSE_RETRY != 0 && self.st == St::Completion {
                    self.outpos = 0;
                }
            }
            DATA_FIFO if self.active == Some(l) => match self.st {
                St::Ready => {
                    self.st = St::Reception;
                    self.inbuf.push(v as u8);
                }
                St::Reception if self.expecting() => self.inbuf.push(v as u8),
                _ => {}
            },
            _ => {}
        }
    }
}

impl Mmio for Tis {
    fn read8(&mut self, offset: usize) -> u8 {
        self.0.borrow_mut().read(offset) as u8
    }
    fn read32(&mut self, offset: usize) -> u32 {
        self.0.borrow_mut().read(offset)
    }
    fn write8(&mut self, offset: usize, value: u8) {
        self.0.borrow_mut().write(offset, u32::from(value))
    }
    fn write32(&mut self, offset: usize, value: u32) {
        self.0.borrow_mut().write(offset, value)
    }
}
