//! The simulated xenstore: a tree of nodes with owner/read/write permissions, watches that fire
//! like xenstored's (on the node, its ancestors' watches, and on removal its descendants'
//! watches; once at registration), relative paths resolved against `/local/domain/<id>`, and
//! transactions that work on a snapshot and fail with `EAGAIN` if the store changed meanwhile.

use std::collections::{BTreeMap, HashMap, VecDeque};

use drivers::hv::XsError;

/// One node.
#[derive(Clone, Debug)]
pub struct Node {
    /// The value.
    pub value: String,
    /// Owning domain (may do anything).
    pub owner: u16,
    /// Other domains that may read.
    pub readers: Vec<u16>,
    /// Other domains that may write.
    pub writers: Vec<u16>,
}

#[derive(Clone, Debug)]
struct Watch {
    dom: u16,
    abs: String,
    registered: String,
    token: String,
}

struct Tx {
    dom: u16,
    tree: BTreeMap<String, Node>,
    base_gen: u64,
    touched: Vec<(String, Option<Node>)>,
    gone: BTreeMap<String, Node>,
}

/// The store.
pub struct Store {
    tree: BTreeMap<String, Node>,
    watches: Vec<Watch>,
    events: HashMap<u16, VecDeque<(String, String)>>,
    txs: HashMap<u32, Tx>,
    next_tx: u32,
    generation: u64,
    /// Number of write/mkdir/rm requests made outside transactions, per domain.
    pub writes: HashMap<u16, u64>,
}

/// Resolves a relative path against `/local/domain/<dom>`.
pub fn resolve(dom: u16, path: &str) -> String {
    let p = path.trim_end_matches('/');
    if path.starts_with('/') {
        if p.is_empty() { "/".to_string() } else { p.to_string() }
    } else if p.is_empty() {
        format!("/local/domain/{dom}")
    } else {
        format!("/local/domain/{dom}/{p}")
    }
}

fn parent(p: &str) -> Option<&str> {
    if p == "/" {
        return None;
    }
    match p.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&p[..i]),
        None => None,
    }
}

fn is_below(p: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return p != "/";
    }
    p.len() > ancestor.len() && p.starts_with(ancestor) && p.as_bytes()[ancestor.len()] == b'/'
}

fn can_read(dom: u16, n: &Node) -> bool {
    dom == 0 || n.owner == dom || n.readers.contains(&dom)
}
fn can_write(dom: u16, n: &Node) -> bool {
    dom == 0 || n.owner == dom || n.writers.contains(&dom)
}

fn valid(path: &str) -> bool {
    !path.is_empty()
        && path.len() < 3072
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"-/_@.:".contains(&b))
        && !path.contains("//")
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store holding only `/` (owned by dom0).
    pub fn new() -> Self {
        let mut tree = BTreeMap::new();
        tree.insert("/".to_string(), Node { value: String::new(), owner: 0, readers: vec![], writers: vec![] });
        Store {
            tree,
            watches: vec![],
            events: HashMap::new(),
            txs: HashMap::new(),
            next_tx: 1,
            generation: 0,
            writes: HashMap::new(),
        }
    }

    /// Hashes what decides the future (for the model checker, `crate::model`): every node
    /// (path, value, permissions), every watch, every queued watch event in order, and the
    /// open transactions. Left out: the generation counter and the write counters.
    pub fn fingerprint<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        for (p, n) in &self.tree {
            (p, &n.value, n.owner, &n.readers, &n.writers).hash(h);
        }
        for w in &self.watches {
            (w.dom, &w.abs, &w.registered, &w.token).hash(h);
        }
        let mut doms: Vec<_> = self.events.iter().filter(|(_, q)| !q.is_empty()).map(|(d, q)| (*d, q)).collect();
        doms.sort_by_key(|(d, _)| *d);
        doms.hash(h);
        let mut txs: Vec<_> = self.txs.iter().map(|(id, t)| (*id, t.dom)).collect();
        txs.sort();
        txs.hash(h);
    }

    fn tree_for(&mut self, dom: u16, tx: u32) -> Result<&mut BTreeMap<String, Node>, XsError> {
        if tx == 0 {
            return Ok(&mut self.tree);
        }
        match self.txs.get_mut(&tx) {
            Some(t) if t.dom == dom => Ok(&mut t.tree),
            _ => Err(XsError::Other("EINVAL".into())),
        }
    }

    /// `XS_READ`.
    pub fn read(&mut self, dom: u16, tx: u32, path: &str) -> Result<String, XsError> {
        let p = resolve(dom, path);
        let t = self.tree_for(dom, tx)?;
        let n = t.get(&p).ok_or(XsError::NoEnt)?;
        if !can_read(dom, n) {
            return Err(XsError::Access);
        }
        Ok(n.value.clone())
    }

    /// `XS_DIRECTORY`.
    pub fn directory(&mut self, dom: u16, tx: u32, path: &str) -> Result<Vec<String>, XsError> {
        let p = resolve(dom, path);
        let t = self.tree_for(dom, tx)?;
        let n = t.get(&p).ok_or(XsError::NoEnt)?;
        if !can_read(dom, n) {
            return Err(XsError::Access);
        }
        let prefix = if p == "/" { "/".to_string() } else { format!("{p}/") };
        Ok(t.range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
            .map(|(k, _)| k[prefix.len()..].to_string())
            .collect())
    }

    /// `XS_WRITE` (`mkdir` = `value: None`: create empty if missing, keep otherwise).
    pub fn write(&mut self, dom: u16, tx: u32, path: &str, value: Option<&str>) -> Result<(), XsError> {
        let p = resolve(dom, path);
        if !valid(&p) {
            return Err(XsError::Other("EINVAL".into()));
        }
        let t = self.tree_for(dom, tx)?;
        if let Some(n) = t.get_mut(&p) {
            if !can_write(dom, n) {
                return Err(XsError::Access);
            }
            if let Some(v) = value {
                n.value = v.to_string();
            }
        } else {
            // Find the closest existing ancestor; it must be writable. New nodes inherit its
            // permissions, with the creator as owner (unless the creator is dom0).
            let mut missing = vec![p.clone()];
            let mut cur = p.clone();
            let anc = loop {
                let Some(par) = parent(&cur) else { return Err(XsError::NoEnt) };
                if let Some(n) = t.get(par) {
                    break n.clone();
                }
                missing.push(par.to_string());
                cur = par.to_string();
            };
            if !can_write(dom, &anc) {
                return Err(XsError::Access);
            }
            let mut perms = anc;
            if dom != 0 {
                perms.owner = dom;
            }
            for (i, m) in missing.iter().rev().enumerate() {
                let v = if i + 1 == missing.len() { value.unwrap_or("").to_string() } else { String::new() };
                t.insert(m.clone(), Node { value: v, ..perms.clone() });
            }
        }
        let node = t.get(&p).cloned();
        self.changed(dom, tx, &p, node);
        Ok(())
    }

    /// `XS_RM` (recursive).
    pub fn rm(&mut self, dom: u16, tx: u32, path: &str) -> Result<(), XsError> {
        let p = resolve(dom, path);
        let t = self.tree_for(dom, tx)?;
        let n = t.get(&p).ok_or(XsError::NoEnt)?.clone();
        if !can_write(dom, &n) || p == "/" {
            return Err(XsError::Access);
        }
        let doomed: Vec<String> = t.keys().filter(|k| **k == p || is_below(k, &p)).cloned().collect();
        let mut gone = BTreeMap::new();
        for k in doomed {
            if let Some(node) = t.remove(&k) {
                gone.insert(k, node);
            }
        }
        self.removed(dom, tx, &p, n, gone);
        Ok(())
    }

    fn changed(&mut self, dom: u16, tx: u32, p: &str, node: Option<Node>) {
        if tx != 0 {
            if let Some(t) = self.txs.get_mut(&tx) {
                t.touched.push((p.to_string(), node));
            }
            return;
        }
        *self.writes.entry(dom).or_default() += 1;
        self.generation += 1;
        self.fire(p, node.as_ref());
    }

    fn removed(&mut self, dom: u16, tx: u32, p: &str, node: Node, gone: BTreeMap<String, Node>) {
        if tx != 0 {
            if let Some(t) = self.txs.get_mut(&tx) {
                t.touched.push((format!("-{p}"), Some(node)));
                t.gone.extend(gone);
            }
            return;
        }
        *self.writes.entry(dom).or_default() += 1;
        self.generation += 1;
        self.fire_removed(p, &node, &gone);
    }

    /// Removal: watches on the node or above see the node's path (if they could read it);
    /// watches below see their own path (if they could read the node they watched).
    fn fire_removed(&mut self, p: &str, node: &Node, gone: &BTreeMap<String, Node>) {
        let mut out = vec![];
        for w in &self.watches {
            let shown_abs = if w.abs == p || is_below(p, &w.abs) {
                if !can_read(w.dom, node) {
                    continue;
                }
                p.to_string()
            } else if is_below(&w.abs, p) {
                let watched = gone.get(&w.abs).unwrap_or(node);
                if !can_read(w.dom, watched) {
                    continue;
                }
                w.abs.clone()
            } else {
                continue;
            };
            out.push((w.dom, w.token.clone(), Self::shown(w, shown_abs)));
        }
        for (dom, token, path) in out {
            self.events.entry(dom).or_default().push_back((token, path));
        }
    }

    fn shown(w: &Watch, abs_path: String) -> String {
        if w.registered.starts_with('/') {
            abs_path
        } else {
            let pre = format!("/local/domain/{}/", w.dom);
            abs_path.strip_prefix(&pre).map(str::to_string).unwrap_or(abs_path)
        }
    }

    /// A change of `p`: watches on it or above fire, if they may read the node.
    fn fire(&mut self, p: &str, node: Option<&Node>) {
        let mut out = vec![];
        for w in &self.watches {
            if !(w.abs == p || is_below(p, &w.abs)) {
                continue;
            }
            if node.is_some_and(|n| !can_read(w.dom, n)) {
                continue;
            }
            out.push((w.dom, w.token.clone(), Self::shown(w, p.to_string())));
        }
        for (dom, token, path) in out {
            self.events.entry(dom).or_default().push_back((token, path));
        }
    }

    /// `XS_WATCH` (fires once at once).
    pub fn watch(&mut self, dom: u16, path: &str, token: &str) -> Result<(), XsError> {
        let abs = resolve(dom, path);
        if self.watches.iter().any(|w| w.dom == dom && w.abs == abs && w.token == token) {
            return Err(XsError::Other("EEXIST".into()));
        }
        self.watches.push(Watch { dom, abs, registered: path.to_string(), token: token.to_string() });
        self.events.entry(dom).or_default().push_back((token.to_string(), path.to_string()));
        Ok(())
    }

    /// `XS_UNWATCH`.
    pub fn unwatch(&mut self, dom: u16, path: &str, token: &str) -> Result<(), XsError> {
        let abs = resolve(dom, path);
        let before = self.watches.len();
        self.watches.retain(|w| !(w.dom == dom && w.abs == abs && w.token == token));
        if self.watches.len() == before { Err(XsError::NoEnt) } else { Ok(()) }
    }

    /// Pops the oldest event of `token` for `dom`.
    pub fn next_event(&mut self, dom: u16, token: &str) -> Option<String> {
        let q = self.events.get_mut(&dom)?;
        let i = q.iter().position(|(t, _)| t == token)?;
        q.remove(i).map(|(_, p)| p)
    }

    /// Drops all watches and queued events of a domain.
    pub fn forget_domain(&mut self, dom: u16) {
        self.watches.retain(|w| w.dom != dom);
        self.events.remove(&dom);
        self.txs.retain(|_, t| t.dom != dom);
    }

    /// `XS_TRANSACTION_START`.
    pub fn tx_start(&mut self, dom: u16) -> u32 {
        let id = self.next_tx;
        self.next_tx += 1;
        self.txs.insert(
            id,
            Tx { dom, tree: self.tree.clone(), base_gen: self.generation, touched: vec![], gone: BTreeMap::new() },
        );
        id
    }

    /// `XS_TRANSACTION_END`.
    pub fn tx_end(&mut self, dom: u16, tx: u32, commit: bool) -> Result<(), XsError> {
        let t = match self.txs.remove(&tx) {
            Some(t) if t.dom == dom => t,
            Some(t) => {
                self.txs.insert(tx, t);
                return Err(XsError::Other("EINVAL".into()));
            }
            None => return Err(XsError::Other("EINVAL".into())),
        };
        if !commit || t.touched.is_empty() {
            return Ok(());
        }
        if t.base_gen != self.generation {
            return Err(XsError::Again);
        }
        self.tree = t.tree;
        self.generation += 1;
        *self.writes.entry(dom).or_default() += 1;
        for (p, node) in t.touched {
            if let Some(rp) = p.strip_prefix('-') {
                if let Some(n) = node {
                    self.fire_removed(rp, &n, &t.gone);
                }
            } else {
                self.fire(&p, node.as_ref());
            }
        }
        Ok(())
    }

    /// Sets a node's permissions (toolstack helper; `XS_SET_PERMS` as dom0).
    pub fn set_perms(&mut self, path: &str, owner: u16, readers: &[u16]) {
        let p = resolve(0, path);
        if let Some(n) = self.tree.get_mut(&p) {
            n.owner = owner;
            n.readers = readers.to_vec();
        }
    }

    /// Direct look-up (test inspection, no permission check).
    pub fn get(&self, path: &str) -> Option<String> {
        self.tree.get(&resolve(0, path)).map(|n| n.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_watches_and_transactions() {
        let mut s = Store::new();
        s.write(0, 0, "/local/domain/1", None).unwrap();
        s.set_perms("/local/domain/1", 1, &[]);
        s.write(0, 0, "/local/domain/2", None).unwrap();
        s.set_perms("/local/domain/2", 2, &[]);
        s.write(1, 0, "device/x", Some("v")).unwrap();
        assert_eq!(s.read(1, 0, "device/x").unwrap(), "v");
        assert_eq!(s.read(2, 0, "/local/domain/1/device/x"), Err(XsError::Access));
        assert_eq!(s.write(2, 0, "/local/domain/1/device/y", Some("v")), Err(XsError::Access));
        s.watch(2, "/local/domain/1/device", "t").unwrap();
        assert_eq!(s.next_event(2, "t").as_deref(), Some("/local/domain/1/device"));
        s.write(1, 0, "device/x", Some("w")).unwrap();
        assert_eq!(s.next_event(2, "t"), None, "no read permission, no event");
        s.set_perms("/local/domain/1/device/x", 1, &[2]);
        s.write(1, 0, "device/x", Some("z")).unwrap();
        assert_eq!(s.next_event(2, "t").as_deref(), Some("/local/domain/1/device/x"));
        s.watch(1, "device/x/deep", "r").unwrap();
        assert!(s.next_event(1, "r").is_some());
        s.rm(1, 0, "device").unwrap();
        assert_eq!(s.next_event(1, "r").as_deref(), Some("device/x/deep"));
        // transactions: isolated and conflict-checked
        let t = s.tx_start(1);
        s.write(1, t, "a", Some("1")).unwrap();
        assert_eq!(s.read(1, 0, "a"), Err(XsError::NoEnt));
        s.write(1, 0, "b", Some("1")).unwrap();
        assert_eq!(s.tx_end(1, t, true), Err(XsError::Again));
        let t = s.tx_start(1);
        s.write(1, t, "a", Some("1")).unwrap();
        s.tx_end(1, t, true).unwrap();
        assert_eq!(s.read(1, 0, "a").unwrap(), "1");
        assert_eq!(s.directory(1, 0, "").unwrap(), vec!["a".to_string(), "b".to_string()]);
    }
}
