//! Simulated grant tables and the pages they share: a page is one `Rc<RefCell<Vec<u8>>>` seen
//! by its owner and by every domain that maps a grant of it. A grant cannot be ended while
//! mapped (Xen answers EBUSY), a map needs the right grantee, and a read-only grant cannot be
//! mapped writable. Tests can "revoke" a grant to model a hostile peer whose page goes away:
//! every access through the mapping then fails with `PageGone`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use drivers::hv::{HvError, PageAccess};

/// A page's bytes.
pub type PageData = Rc<RefCell<Vec<u8>>>;

/// A page of a domain's own memory.
pub struct SimPage {
    pub(crate) data: PageData,
}

impl SimPage {
    pub(crate) fn new() -> Self {
        SimPage { data: Rc::new(RefCell::new(vec![0u8; 4096])) }
    }
}

thread_local! {
    static FREED_WHILE_SHARED: Cell<u64> = const { Cell::new(0) };
}

/// How many pages this thread (one test) freed while a grant or mapping of them was still
/// alive: what a real kernel would hand to the next allocation while the peer still sees it
/// (security review L7). A driver must end the grant first, or leak the page.
pub fn pages_freed_while_shared() -> u64 {
    FREED_WHILE_SHARED.with(Cell::get)
}

impl Drop for SimPage {
    fn drop(&mut self) {
        // The grant entry and every mapping hold a clone of the bytes.
        if Rc::strong_count(&self.data) > 1 {
            FREED_WHILE_SHARED.with(|c| c.set(c.get() + 1));
        }
    }
}

fn bounds(offset: usize, len: usize) -> Result<(), HvError> {
    if offset.checked_add(len).is_none_or(|e| e > 4096) { Err(HvError::OutOfRange) } else { Ok(()) }
}

impl PageAccess for SimPage {
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
        bounds(offset, buf.len())?;
        buf.copy_from_slice(&self.data.borrow()[offset..offset + buf.len()]);
        Ok(())
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
        bounds(offset, data.len())?;
        self.data.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// A peer's page mapped by us.
pub struct SimMapping {
    pub(crate) data: PageData,
    pub(crate) readonly: bool,
    pub(crate) alive: Rc<Cell<bool>>,
    pub(crate) granter: u16,
    pub(crate) gref: u32,
    pub(crate) mapper: u16,
}

impl PageAccess for SimMapping {
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
        bounds(offset, buf.len())?;
        if !self.alive.get() {
            return Err(HvError::PageGone);
        }
        buf.copy_from_slice(&self.data.borrow()[offset..offset + buf.len()]);
        Ok(())
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
        bounds(offset, data.len())?;
        if !self.alive.get() {
            return Err(HvError::PageGone);
        }
        if self.readonly {
            return Err(HvError::Xen(-1));
        }
        self.data.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }
}

struct Entry {
    data: PageData,
    grantee: u16,
    readonly: bool,
    maps: u32,
    alive: Rc<Cell<bool>>,
}

/// All domains' grant tables.
#[derive(Default)]
pub struct Grants {
    entries: HashMap<(u16, u32), Entry>,
    next: HashMap<u16, u32>,
    /// Successful maps, per mapping domain.
    pub maps_done: HashMap<u16, u64>,
}

impl Grants {
    /// Hashes what decides the future (for the model checker, `crate::model`): every grant,
    /// its grantee, mode, map count, whether its page is still there, and the page's bytes.
    /// Left out: the counters and the next free grant ref (fresh either way).
    pub fn fingerprint<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        let mut keys: Vec<_> = self.entries.keys().copied().collect();
        keys.sort();
        for k in keys {
            let e = &self.entries[&k];
            (k, e.grantee, e.readonly, e.maps, e.alive.get()).hash(h);
            e.data.borrow().hash(h);
        }
    }

    /// `gnttab_grant_foreign_access`.
    pub fn grant(&mut self, dom: u16, page: &SimPage, grantee: u16, readonly: bool) -> u32 {
        // Grant refs 0..7 are reserved by Linux/Mini-OS; start at 8 like them.
        let n = self.next.entry(dom).or_insert(8);
        let g = *n;
        *n += 1;
        self.entries.insert(
            (dom, g),
            Entry { data: page.data.clone(), grantee, readonly, maps: 0, alive: Rc::new(Cell::new(true)) },
        );
        g
    }

    /// `gnttab_end_foreign_access_ref`.
    pub fn end(&mut self, dom: u16, gref: u32) -> Result<(), HvError> {
        match self.entries.get(&(dom, gref)) {
            None => Err(HvError::Xen(-22)),
            Some(e) if e.maps > 0 => Err(HvError::Xen(-16)),
            Some(_) => {
                self.entries.remove(&(dom, gref));
                Ok(())
            }
        }
    }

    /// `GNTTABOP_map_grant_ref`.
    pub fn map(&mut self, mapper: u16, granter: u16, gref: u32, readonly: bool) -> Result<SimMapping, HvError> {
        let e = self.entries.get_mut(&(granter, gref)).ok_or(HvError::Xen(-22))?;
        if e.grantee != mapper || !e.alive.get() {
            return Err(HvError::Xen(-22));
        }
        if e.readonly && !readonly {
            return Err(HvError::Xen(-1));
        }
        e.maps += 1;
        *self.maps_done.entry(mapper).or_default() += 1;
        Ok(SimMapping { data: e.data.clone(), readonly, alive: e.alive.clone(), granter, gref, mapper })
    }

    /// `GNTTABOP_unmap_grant_ref`.
    pub fn unmap(&mut self, m: SimMapping) -> Result<(), HvError> {
        let _ = m.mapper;
        if let Some(e) = self.entries.get_mut(&(m.granter, m.gref)) {
            e.maps = e.maps.saturating_sub(1);
        }
        Ok(())
    }

    /// Hostile peer: the page behind `dom`'s grant `gref` goes away for every mapper.
    pub fn revoke(&mut self, dom: u16, gref: u32) {
        if let Some(e) = self.entries.get_mut(&(dom, gref)) {
            e.alive.set(false);
            e.maps = 0;
        }
    }

    /// Number of live mappings of `dom`'s grant `gref`.
    pub fn map_count(&self, dom: u16, gref: u32) -> u32 {
        self.entries.get(&(dom, gref)).map(|e| e.maps).unwrap_or(0)
    }

    /// Number of grants `dom` currently has.
    pub fn active_grants(&self, dom: u16) -> usize {
        self.entries.keys().filter(|(d, _)| *d == dom).count()
    }

    /// The bytes behind a grant (test inspection).
    pub fn page_of(&self, dom: u16, gref: u32) -> Option<PageData> {
        self.entries.get(&(dom, gref)).map(|e| e.data.clone())
    }

    /// Domain destroyed: its grants vanish and their pages go away for mappers.
    pub fn destroy_domain(&mut self, dom: u16) {
        for ((d, _), e) in self.entries.iter() {
            if *d == dom {
                e.alive.set(false);
            }
        }
        self.entries.retain(|(d, _), _| *d != dom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_xen_rules() {
        let mut g = Grants::default();
        let mut page = SimPage::new();
        page.write(0, b"hello").unwrap();
        let r = g.grant(1, &page, 2, true);
        assert_eq!(g.map(3, 1, r, true).err(), Some(HvError::Xen(-22)), "not the grantee");
        assert_eq!(g.map(2, 1, r, false).err(), Some(HvError::Xen(-1)), "read-only grant");
        let m = g.map(2, 1, r, true).unwrap();
        let mut b = [0u8; 5];
        m.read(0, &mut b).unwrap();
        assert_eq!(&b, b"hello");
        assert_eq!(g.end(1, r), Err(HvError::Xen(-16)), "busy while mapped");
        g.unmap(m).unwrap();
        g.end(1, r).unwrap();
        assert_eq!(g.map(2, 1, r, true).err(), Some(HvError::Xen(-22)), "ended");
        let r = g.grant(1, &page, 2, false);
        let mut m = g.map(2, 1, r, false).unwrap();
        g.revoke(1, r);
        assert_eq!(m.write(0, b"x"), Err(HvError::PageGone));
        assert_eq!(m.read(4090, &mut [0u8; 8]), Err(HvError::OutOfRange));
    }
}
