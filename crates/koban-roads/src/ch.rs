//! Contraction hierarchy: the shortest-time index.
//!
//! Nodes are contracted one by one in an order chosen by a priority (edge difference,
//! contracted neighbours and level); contracting a node adds a shortcut between two of
//! its neighbours unless a bounded witness search finds a path at least as short that
//! avoids it. A witness search that gives up early only adds an unnecessary shortcut,
//! never a wrong answer, so the bounds trade build time for index size, not correctness.
//!
//! Queries run Dijkstra upward from both ends (with stall-on-demand) and meet at the
//! highest node of the shortest path. Times are integer milliseconds, summed exactly, so
//! the answers equal plain Dijkstra's exactly.
//!
//! Node ids inside the index are ranks (contraction order), which keeps the nodes a
//! query touches near each other in memory; the public API speaks graph node ids.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::RoadError;
use crate::bytes::{ByteReader, put_f32, put_u32, seal, unseal};
use crate::graph::RoadGraph;

const CH_MAGIC: &[u8; 8] = b"KOBANCH\0";
const CH_VERSION: u32 = 1;
/// "Not reached" for a distance label.
const INF: u32 = u32::MAX;
/// Nodes a witness search may settle while priorities are estimated; small, because
/// estimates run several times per node.
const SIMULATE_SETTLE_LIMIT: usize = 60;
/// Nodes a witness search may settle when a node is really contracted.
const CONTRACT_SETTLE_LIMIT: usize = 500;

/// A shortest route's cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    /// Travel time in milliseconds.
    pub time_ms: u64,
    /// Length of the route in metres (of one time-shortest route, if several tie).
    pub distance_m: f64,
}

/// One arc of the hierarchy; `to` is a rank.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChArc {
    to: u32,
    time_ms: u32,
    length_m: f32,
}

/// The contraction hierarchy over a [`RoadGraph`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContractionHierarchy {
    /// Graph node id → rank.
    rank: Vec<u32>,
    /// Arcs from each rank to higher ranks (forward search).
    fwd_first: Vec<u32>,
    fwd: Vec<ChArc>,
    /// Arcs into each rank from higher ranks, stored reversed: `to` is the tail
    /// (backward search).
    bwd_first: Vec<u32>,
    bwd: Vec<ChArc>,
}

/// An arc of the graph being contracted.
#[derive(Debug, Clone, Copy)]
struct CArc {
    to: u32,
    time_ms: u32,
    length_m: f32,
}

/// Adds an arc or lowers the time of an existing one; returns whether anything changed.
fn add_or_improve(list: &mut Vec<CArc>, to: u32, time_ms: u32, length_m: f32) -> bool {
    if let Some(a) = list.iter_mut().find(|a| a.to == to) {
        if time_ms < a.time_ms {
            a.time_ms = time_ms;
            a.length_m = length_m;
            return true;
        }
        return false;
    }
    list.push(CArc {
        to,
        time_ms,
        length_m,
    });
    true
}

/// Reusable state for witness searches.
struct Witness {
    dist: Vec<u32>,
    touched: Vec<u32>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
    is_target: Vec<bool>,
}

impl Witness {
    fn new(n: usize) -> Witness {
        Witness {
            dist: vec![INF; n],
            touched: Vec::new(),
            heap: BinaryHeap::new(),
            is_target: vec![false; n],
        }
    }

    /// Dijkstra from `source` avoiding `avoid`, stopping at `max_ms`, after
    /// `settle_limit` nodes, or once every target is settled. Afterwards `dist` holds
    /// upper bounds (exact for settled nodes).
    fn run(
        &mut self,
        out: &[Vec<CArc>],
        source: u32,
        avoid: u32,
        targets: &[CArc],
        max_ms: u32,
        settle_limit: usize,
    ) {
        for &v in &self.touched {
            self.dist[v as usize] = INF;
        }
        self.touched.clear();
        self.heap.clear();
        let mut remaining = 0usize;
        for t in targets {
            if !self.is_target[t.to as usize] {
                self.is_target[t.to as usize] = true;
                remaining += 1;
            }
        }
        self.dist[source as usize] = 0;
        self.touched.push(source);
        self.heap.push(Reverse((0, source)));
        let mut settled = 0usize;
        while let Some(Reverse((d, u))) = self.heap.pop() {
            if d > self.dist[u as usize] {
                continue;
            }
            if d > max_ms || settled >= settle_limit {
                break;
            }
            settled += 1;
            if self.is_target[u as usize] {
                self.is_target[u as usize] = false;
                remaining -= 1;
                if remaining == 0 {
                    break;
                }
            }
            for a in &out[u as usize] {
                if a.to == avoid {
                    continue;
                }
                let nd = d.saturating_add(a.time_ms);
                let slot = &mut self.dist[a.to as usize];
                if nd < *slot {
                    if *slot == INF {
                        self.touched.push(a.to);
                    }
                    *slot = nd;
                    self.heap.push(Reverse((nd, a.to)));
                }
            }
        }
        for t in targets {
            self.is_target[t.to as usize] = false;
        }
    }
}

/// The graph while it is being contracted.
struct Contractor {
    out: Vec<Vec<CArc>>,
    inn: Vec<Vec<CArc>>,
    witness: Witness,
    shortcuts: Vec<(u32, u32, u32, f32)>,
}

impl Contractor {
    /// Computes the shortcuts contracting `v` needs into `self.shortcuts`.
    fn find_shortcuts(&mut self, v: u32, settle_limit: usize) {
        self.shortcuts.clear();
        let vi = v as usize;
        let Some(max_out) = self.out[vi].iter().map(|a| a.time_ms).max() else {
            return;
        };
        for i in 0..self.inn[vi].len() {
            let a_in = self.inn[vi][i];
            let u = a_in.to;
            self.witness.run(
                &self.out,
                u,
                v,
                &self.out[vi],
                a_in.time_ms.saturating_add(max_out),
                settle_limit,
            );
            for a_out in &self.out[vi] {
                if a_out.to == u {
                    continue;
                }
                let via = a_in.time_ms.saturating_add(a_out.time_ms);
                if self.witness.dist[a_out.to as usize] > via {
                    self.shortcuts
                        .push((u, a_out.to, via, a_in.length_m + a_out.length_m));
                }
            }
        }
    }
}

impl ContractionHierarchy {
    /// Builds the hierarchy for a graph.
    pub fn build(graph: &RoadGraph) -> ContractionHierarchy {
        let n = graph.node_count();
        let mut out: Vec<Vec<CArc>> = vec![Vec::new(); n];
        let mut inn: Vec<Vec<CArc>> = vec![Vec::new(); n];
        for u in 0..n as u32 {
            for a in graph.out_arcs(u) {
                add_or_improve(&mut out[u as usize], a.to, a.time_ms, a.length_m);
                add_or_improve(&mut inn[a.to as usize], u, a.time_ms, a.length_m);
            }
        }
        let mut c = Contractor {
            out,
            inn,
            witness: Witness::new(n),
            shortcuts: Vec::new(),
        };
        let mut contracted_neighbours = vec![0i64; n];
        let mut level = vec![0i64; n];
        let mut priority = vec![0i64; n];
        let mut contracted = vec![false; n];

        let prio = |c: &mut Contractor, v: u32, cn: i64, lvl: i64| -> i64 {
            c.find_shortcuts(v, SIMULATE_SETTLE_LIMIT);
            let removed = (c.out[v as usize].len() + c.inn[v as usize].len()) as i64;
            let edge_difference = c.shortcuts.len() as i64 - removed;
            2 * edge_difference + cn + lvl
        };

        let mut heap = BinaryHeap::with_capacity(n);
        for v in 0..n as u32 {
            priority[v as usize] = prio(&mut c, v, 0, 0);
            heap.push(Reverse((priority[v as usize], v)));
        }

        let mut rank = vec![0u32; n];
        let mut up_out: Vec<Vec<CArc>> = vec![Vec::new(); n];
        let mut up_in: Vec<Vec<CArc>> = vec![Vec::new(); n];
        let mut next_rank = 0u32;
        let mut neighbours: Vec<u32> = Vec::new();
        while let Some(Reverse((p, v))) = heap.pop() {
            let vi = v as usize;
            if contracted[vi] || p != priority[vi] {
                continue;
            }
            // Lazy update: the estimate may be stale since neighbours were contracted.
            let fresh = prio(&mut c, v, contracted_neighbours[vi], level[vi]);
            if let Some(Reverse((top, _))) = heap.peek()
                && fresh > *top
            {
                priority[vi] = fresh;
                heap.push(Reverse((fresh, v)));
                continue;
            }

            c.find_shortcuts(v, CONTRACT_SETTLE_LIMIT);
            let shortcuts = std::mem::take(&mut c.shortcuts);
            for &(a, b, t, l) in &shortcuts {
                if add_or_improve(&mut c.out[a as usize], b, t, l) {
                    add_or_improve(&mut c.inn[b as usize], a, t, l);
                }
            }
            c.shortcuts = shortcuts;

            let my_out = std::mem::take(&mut c.out[vi]);
            let my_in = std::mem::take(&mut c.inn[vi]);
            neighbours.clear();
            for a in &my_in {
                c.out[a.to as usize].retain(|x| x.to != v);
                neighbours.push(a.to);
            }
            for a in &my_out {
                c.inn[a.to as usize].retain(|x| x.to != v);
                neighbours.push(a.to);
            }
            neighbours.sort_unstable();
            neighbours.dedup();
            contracted[vi] = true;
            rank[vi] = next_rank;
            next_rank += 1;
            up_out[vi] = my_out;
            up_in[vi] = my_in;

            for &w in &neighbours {
                let wi = w as usize;
                contracted_neighbours[wi] += 1;
                level[wi] = level[wi].max(level[vi] + 1);
                priority[wi] = prio(&mut c, w, contracted_neighbours[wi], level[wi]);
                heap.push(Reverse((priority[wi], w)));
            }
        }

        let mut by_rank = vec![0u32; n];
        for (v, &r) in rank.iter().enumerate() {
            by_rank[r as usize] = v as u32;
        }
        let to_csr = |lists: &[Vec<CArc>]| -> (Vec<u32>, Vec<ChArc>) {
            let mut first = Vec::with_capacity(n + 1);
            let mut arcs = Vec::new();
            first.push(0u32);
            for &v in &by_rank {
                let start = arcs.len();
                arcs.extend(lists[v as usize].iter().map(|a| ChArc {
                    to: rank[a.to as usize],
                    time_ms: a.time_ms,
                    length_m: a.length_m,
                }));
                arcs[start..].sort_unstable_by_key(|a| a.to);
                first.push(arcs.len() as u32);
            }
            (first, arcs)
        };
        let (fwd_first, fwd) = to_csr(&up_out);
        let (bwd_first, bwd) = to_csr(&up_in);
        ContractionHierarchy {
            rank,
            fwd_first,
            fwd,
            bwd_first,
            bwd,
        }
    }

    /// Number of graph nodes the hierarchy covers.
    pub fn node_count(&self) -> usize {
        self.rank.len()
    }

    /// Number of arcs (original and shortcut) stored.
    pub fn arc_count(&self) -> usize {
        self.fwd.len() + self.bwd.len()
    }

    /// Shortest route from node `from` to node `to` (graph ids), or `None` if there is
    /// none or a node is unknown. Allocates scratch; see [`ContractionHierarchy::query_with`].
    pub fn query(&self, from: u32, to: u32) -> Option<Route> {
        self.query_with(&mut QueryScratch::new(), from, to)
    }

    /// [`ContractionHierarchy::query`] with caller-held scratch, for repeated queries.
    pub fn query_with(&self, scratch: &mut QueryScratch, from: u32, to: u32) -> Option<Route> {
        self.query_seeds(scratch, &[(from, 0, 0.0)], &[(to, 0, 0.0)])
    }

    /// Shortest route from any source to any target, each seeded with a starting cost
    /// `(node, time_ms, length_m)`; used for positions part-way along a road.
    pub fn query_seeds(
        &self,
        scratch: &mut QueryScratch,
        sources: &[(u32, u32, f32)],
        targets: &[(u32, u32, f32)],
    ) -> Option<Route> {
        scratch.prepare(self.node_count());
        let QueryScratch { fwd, bwd } = scratch;
        for &(v, t, l) in sources {
            fwd.seed(self.rank.get(v as usize).copied()?, t, l);
        }
        for &(v, t, l) in targets {
            bwd.seed(self.rank.get(v as usize).copied()?, t, l);
        }
        let mut best = (INF, 0.0f32);
        let mut forward_turn = true;
        loop {
            let f_open = fwd.min_key().is_some_and(|k| k < best.0);
            let b_open = bwd.min_key().is_some_and(|k| k < best.0);
            if !f_open && !b_open {
                break;
            }
            let go_forward = if f_open && b_open {
                forward_turn
            } else {
                f_open
            };
            forward_turn = !forward_turn;
            let (me, other, up_f, up, down_f, down) = if go_forward {
                (
                    &mut *fwd,
                    &*bwd,
                    &self.fwd_first,
                    &self.fwd,
                    &self.bwd_first,
                    &self.bwd,
                )
            } else {
                (
                    &mut *bwd,
                    &*fwd,
                    &self.bwd_first,
                    &self.bwd,
                    &self.fwd_first,
                    &self.fwd,
                )
            };
            if let Some((u, d, l)) = me.step(up_f, up, down_f, down) {
                let od = other.dist[u as usize];
                if od != INF {
                    let total = d.saturating_add(od);
                    if total < best.0 {
                        best = (total, l + other.len[u as usize]);
                    }
                }
            }
        }
        (best.0 != INF).then(|| Route {
            time_ms: u64::from(best.0),
            distance_m: f64::from(best.1),
        })
    }

    /// Routes from many sources (units) to one target (the incident): one complete
    /// backward search from the target, then a pruned forward search per source.
    ///
    /// Each source is a list of seeds `(node, time_ms, length_m)`; the target likewise.
    /// Unknown nodes give `None` for that source.
    pub fn many_to_one_seeds(
        &self,
        scratch: &mut QueryScratch,
        sources: &[Vec<(u32, u32, f32)>],
        target: &[(u32, u32, f32)],
    ) -> Vec<Option<Route>> {
        scratch.prepare(self.node_count());
        let QueryScratch { fwd, bwd } = scratch;
        for &(v, t, l) in target {
            match self.rank.get(v as usize) {
                Some(&r) => bwd.seed(r, t, l),
                None => return vec![None; sources.len()],
            }
        }
        while bwd.min_key().is_some() {
            bwd.step(&self.bwd_first, &self.bwd, &self.fwd_first, &self.fwd);
        }
        let mut results = Vec::with_capacity(sources.len());
        for seeds in sources {
            fwd.reset();
            let mut known = true;
            for &(v, t, l) in seeds {
                match self.rank.get(v as usize) {
                    Some(&r) => fwd.seed(r, t, l),
                    None => known = false,
                }
            }
            if !known {
                results.push(None);
                continue;
            }
            let mut best = (INF, 0.0f32);
            while fwd.min_key().is_some_and(|k| k < best.0) {
                if let Some((u, d, l)) =
                    fwd.step(&self.fwd_first, &self.fwd, &self.bwd_first, &self.bwd)
                {
                    let od = bwd.dist[u as usize];
                    if od != INF && d.saturating_add(od) < best.0 {
                        best = (d.saturating_add(od), l + bwd.len[u as usize]);
                    }
                }
            }
            results.push((best.0 != INF).then(|| Route {
                time_ms: u64::from(best.0),
                distance_m: f64::from(best.1),
            }));
        }
        results
    }

    /// Routes from many source nodes to one target node (graph ids).
    pub fn many_to_one(&self, sources: &[u32], target: u32) -> Vec<Option<Route>> {
        let seeds: Vec<Vec<(u32, u32, f32)>> = sources.iter().map(|&s| vec![(s, 0, 0.0)]).collect();
        self.many_to_one_seeds(&mut QueryScratch::new(), &seeds, &[(target, 0, 0.0)])
    }

    /// Serialises the hierarchy (versioned header, length and checksum).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.rank.len();
        let mut p = Vec::with_capacity(n * 12 + (self.fwd.len() + self.bwd.len()) * 12 + 16);
        put_u32(&mut p, n as u32);
        for &r in &self.rank {
            put_u32(&mut p, r);
        }
        for (first, arcs) in [(&self.fwd_first, &self.fwd), (&self.bwd_first, &self.bwd)] {
            put_u32(&mut p, arcs.len() as u32);
            for w in first.windows(2) {
                put_u32(&mut p, w[1] - w[0]);
            }
            for a in arcs {
                put_u32(&mut p, a.to);
                put_u32(&mut p, a.time_ms);
                put_f32(&mut p, a.length_m);
            }
        }
        seal(CH_MAGIC, CH_VERSION, &p)
    }

    /// Reads a hierarchy written by [`ContractionHierarchy::to_bytes`].
    ///
    /// Checks the header, length and checksum, that ranks are a permutation and that
    /// every arc points upward; never panics, whatever the input.
    pub fn from_bytes(data: &[u8]) -> Result<ContractionHierarchy, RoadError> {
        let payload = unseal(CH_MAGIC, CH_VERSION, data)?;
        let mut r = ByteReader::new(payload);
        let n = r.count(4)?;
        let mut rank = Vec::with_capacity(n);
        let mut seen = vec![false; n];
        for _ in 0..n {
            let x = r.u32()? as usize;
            if x >= n || seen[x] {
                return Err(RoadError::Format("ranks are not a permutation".into()));
            }
            seen[x] = true;
            rank.push(x as u32);
        }
        let mut read_side = || -> Result<(Vec<u32>, Vec<ChArc>), RoadError> {
            let m = r.count(12)?;
            let mut first = Vec::with_capacity(n + 1);
            first.push(0u32);
            let mut total = 0u64;
            for _ in 0..n {
                total += u64::from(r.u32()?);
                if total > m as u64 {
                    return Err(RoadError::Format("degrees exceed the arc count".into()));
                }
                first.push(total as u32);
            }
            if total != m as u64 {
                return Err(RoadError::Format(
                    "degrees do not sum to the arc count".into(),
                ));
            }
            let mut arcs = Vec::with_capacity(m);
            let mut tail = 0usize;
            for i in 0..m {
                while first[tail + 1] as usize <= i {
                    tail += 1;
                }
                let a = ChArc {
                    to: r.u32()?,
                    time_ms: r.u32()?,
                    length_m: r.f32()?,
                };
                if a.to as usize >= n || a.to as usize <= tail {
                    return Err(RoadError::Format("arc does not point upward".into()));
                }
                if !a.length_m.is_finite() || a.length_m < 0.0 {
                    return Err(RoadError::Format("arc length is not a distance".into()));
                }
                arcs.push(a);
            }
            Ok((first, arcs))
        };
        let (fwd_first, fwd) = read_side()?;
        let (bwd_first, bwd) = read_side()?;
        r.finish()?;
        Ok(ContractionHierarchy {
            rank,
            fwd_first,
            fwd,
            bwd_first,
            bwd,
        })
    }
}

/// The forward upward search spaces of many sources (a fleet of units), kept in buckets by
/// node, so that routing every source to one target costs one backward search from the
/// target plus a scan of the buckets it settles — the many-to-one half of the bucket
/// algorithm for many-to-many CH queries (Knopp et al., 2007). Sources are inserted and
/// removed one at a time, so a unit that moves costs one upward search, not a rebuild.
#[derive(Debug, Default, Clone)]
pub struct SourceBuckets {
    /// Rank of a node → (source slot, time ms, length m) of every source reaching it.
    buckets: std::collections::HashMap<u32, Vec<(u32, u32, f32)>>,
    /// Slot → the ranks its entries sit under (to remove it again); `None` when free.
    spaces: Vec<Option<Vec<u32>>>,
    free: Vec<u32>,
}

impl SourceBuckets {
    /// Slots in use.
    pub fn len(&self) -> usize {
        self.spaces.len() - self.free.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bucket entries held (memory is about 12 bytes each).
    pub fn entries(&self) -> usize {
        self.buckets.values().map(Vec::len).sum()
    }
    /// Removes a source; its slot may be reused.
    pub fn remove(&mut self, slot: u32) {
        let Some(space) = self.spaces.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        for r in space {
            if let Some(b) = self.buckets.get_mut(&r) {
                b.retain(|e| e.0 != slot);
                if b.is_empty() {
                    self.buckets.remove(&r);
                }
            }
        }
        self.free.push(slot);
    }
}

impl ContractionHierarchy {
    /// Adds a source given by its seeds `(node, time_ms, length_m)` and returns its slot,
    /// or `None` when a seed names a node the hierarchy lacks.
    pub fn bucket_insert(
        &self,
        scratch: &mut QueryScratch,
        b: &mut SourceBuckets,
        seeds: &[(u32, u32, f32)],
    ) -> Option<u32> {
        scratch.prepare(self.node_count());
        let fwd = &mut scratch.fwd;
        for &(v, t, l) in seeds {
            fwd.seed(*self.rank.get(v as usize)?, t, l);
        }
        let mut settled = Vec::new();
        while fwd.min_key().is_some() {
            if let Some(x) = fwd.step(&self.fwd_first, &self.fwd, &self.bwd_first, &self.bwd) {
                settled.push(x);
            }
        }
        let slot = match b.free.pop() {
            Some(s) => s,
            None => {
                b.spaces.push(None);
                (b.spaces.len() - 1) as u32
            }
        };
        let mut space = Vec::with_capacity(settled.len());
        for (r, d, l) in settled {
            b.buckets.entry(r).or_default().push((slot, d, l));
            space.push(r);
        }
        b.spaces[slot as usize] = Some(space);
        Some(slot)
    }

    /// Routes from every source in `b` to the target; the result is indexed by slot.
    pub fn many_to_one_buckets(
        &self,
        scratch: &mut QueryScratch,
        b: &SourceBuckets,
        target: &[(u32, u32, f32)],
    ) -> Vec<Option<Route>> {
        let mut best = vec![(INF, 0.0f32); b.spaces.len()];
        scratch.prepare(self.node_count());
        let bwd = &mut scratch.bwd;
        for &(v, t, l) in target {
            match self.rank.get(v as usize) {
                Some(&r) => bwd.seed(r, t, l),
                None => return vec![None; b.spaces.len()],
            }
        }
        while bwd.min_key().is_some() {
            if let Some((r, d, l)) =
                bwd.step(&self.bwd_first, &self.bwd, &self.fwd_first, &self.fwd)
                && let Some(entries) = b.buckets.get(&r)
            {
                for &(slot, df, lf) in entries {
                    let total = df.saturating_add(d);
                    let slot_best = &mut best[slot as usize];
                    if total < slot_best.0 {
                        *slot_best = (total, lf + l);
                    }
                }
            }
        }
        best.into_iter()
            .map(|(t, l)| {
                (t != INF).then(|| Route {
                    time_ms: u64::from(t),
                    distance_m: f64::from(l),
                })
            })
            .collect()
    }
}

/// One direction of a query.
#[derive(Debug, Default, Clone)]
struct Side {
    dist: Vec<u32>,
    len: Vec<f32>,
    touched: Vec<u32>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

impl Side {
    fn reset(&mut self) {
        for &v in &self.touched {
            self.dist[v as usize] = INF;
        }
        self.touched.clear();
        self.heap.clear();
    }

    fn seed(&mut self, v: u32, time_ms: u32, length_m: f32) {
        let slot = &mut self.dist[v as usize];
        if time_ms < *slot {
            if *slot == INF {
                self.touched.push(v);
            }
            *slot = time_ms;
            self.len[v as usize] = length_m;
            self.heap.push(Reverse((time_ms, v)));
        }
    }

    fn min_key(&self) -> Option<u32> {
        self.heap.peek().map(|Reverse((d, _))| *d)
    }

    /// Pops one node; relaxes its upward arcs unless it is stale or stalled. Returns the
    /// node with its label when it was settled.
    fn step(
        &mut self,
        up_first: &[u32],
        up: &[ChArc],
        down_first: &[u32],
        down: &[ChArc],
    ) -> Option<(u32, u32, f32)> {
        let Reverse((d, u)) = self.heap.pop()?;
        let ui = u as usize;
        if d > self.dist[ui] {
            return None;
        }
        // Stall-on-demand: if a higher node already reached reaches `u` more cheaply,
        // nothing found from `u` can be on a shortest path.
        for a in &down[down_first[ui] as usize..down_first[ui + 1] as usize] {
            if self.dist[a.to as usize].saturating_add(a.time_ms) < d {
                return None;
            }
        }
        let l = self.len[ui];
        for a in &up[up_first[ui] as usize..up_first[ui + 1] as usize] {
            let nd = d.saturating_add(a.time_ms);
            let slot = &mut self.dist[a.to as usize];
            if nd < *slot {
                if *slot == INF {
                    self.touched.push(a.to);
                }
                *slot = nd;
                self.len[a.to as usize] = l + a.length_m;
                self.heap.push(Reverse((nd, a.to)));
            }
        }
        Some((u, d, l))
    }
}

/// Reusable buffers for queries; keep one per thread to avoid allocating per query.
#[derive(Debug, Default, Clone)]
pub struct QueryScratch {
    fwd: Side,
    bwd: Side,
}

impl QueryScratch {
    /// Empty scratch; it grows to the index size on first use.
    pub fn new() -> QueryScratch {
        QueryScratch::default()
    }

    fn prepare(&mut self, n: usize) {
        for side in [&mut self.fwd, &mut self.bwd] {
            if side.dist.len() != n {
                side.dist = vec![INF; n];
                side.len = vec![0.0; n];
                side.touched.clear();
                side.heap.clear();
            } else {
                side.reset();
            }
        }
    }
}
