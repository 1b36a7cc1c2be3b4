//! Forward geocoding over the Geolonia town-level address table.

use std::collections::HashMap;
use std::io::Read;

use crate::normalize::{
    kanji_number, key_of, levenshtein, match_key, normalize_address, parse_kanji_number,
};
use crate::{Candidate, GeoError, GeoPoint, GeocodeResult, MatchLevel};

const COL_PREF: &str = "都道府県名";
const COL_MUNI: &str = "市区町村名";
const COL_TOWN: &str = "大字町丁目名";
const COL_KOAZA: &str = "小字・通称名";
const COL_LAT: &str = "緯度";
const COL_LON: &str = "経度";

#[derive(Debug, Clone)]
struct Pref {
    name: String,
    key: String,
    /// `東京` for `東京都` etc. (not for 北海道).
    short_key: Option<String>,
    point: GeoPoint,
    munis: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Muni {
    pref: u32,
    name: String,
    key: String,
    point: GeoPoint,
    /// Town ids sorted by key (empty for a designated-city group).
    towns: Vec<u32>,
    /// For a designated-city group (`横浜市`): its wards. Empty otherwise.
    children: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Koaza {
    name: String,
    key: String,
    point: GeoPoint,
}

#[derive(Debug, Clone)]
struct Town {
    muni: u32,
    name: String,
    key: String,
    point: GeoPoint,
    has_own_point: bool,
    koazas: Vec<Koaza>,
    /// `(base key length in chars, chōme number)` for `〇〇N丁目` towns.
    chome: Option<(usize, u32)>,
}

/// Forward geocoder over a town-level address table (Geolonia `latest.csv` columns).
///
/// Built once from CSV with [`AddressIndex::from_csv`]; queries are read-only and cheap.
#[derive(Debug, Clone, Default)]
pub struct AddressIndex {
    rows: usize,
    prefs: Vec<Pref>,
    munis: Vec<Muni>,
    towns: Vec<Town>,
    /// Municipality keys (full name, name without 郡, ward name alone, designated city) → ids.
    muni_by_key: HashMap<String, Vec<u32>>,
    max_muni_key_chars: usize,
    /// All towns sorted by key, for nationwide prefix search.
    towns_sorted: Vec<u32>,
}

/// One way of reading the start of the query as (prefecture?, municipality).
#[derive(Debug, Clone, Copy)]
struct MuniPath {
    muni: u32,
    consumed: usize,
}

#[derive(Debug, Clone)]
struct Scored {
    cand: Candidate,
    exact: bool,
    consumed: usize,
}

impl AddressIndex {
    /// Load the table from CSV with the Geolonia column names
    /// (`都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度`; extra columns are ignored).
    ///
    /// Rows whose latitude/longitude are not finite numbers in range are rejected with
    /// an error naming the line.
    pub fn from_csv(reader: impl Read) -> Result<AddressIndex, GeoError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(reader);
        let headers = rdr.byte_headers().map_err(|e| csv_err(&e))?.clone();
        let col = |name: &str| -> Result<usize, GeoError> {
            headers
                .iter()
                .position(|h| {
                    let h = std::str::from_utf8(h).unwrap_or("");
                    h.trim_start_matches('\u{FEFF}').trim() == name
                })
                .ok_or_else(|| GeoError::MissingColumn(name.to_string()))
        };
        let (cp, cm, ct, ck, cla, clo) = (
            col(COL_PREF)?,
            col(COL_MUNI)?,
            col(COL_TOWN)?,
            col(COL_KOAZA)?,
            col(COL_LAT)?,
            col(COL_LON)?,
        );

        let mut idx = AddressIndex::default();
        let mut pref_ids: HashMap<String, u32> = HashMap::new();
        let mut muni_ids: HashMap<(u32, String), u32> = HashMap::new();
        let mut town_ids: HashMap<(u32, String), u32> = HashMap::new();
        let mut rec = csv::ByteRecord::new();
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(csv_err(&e)),
            }
            let line = rec.position().map_or(0, |p| p.line());
            let field = |i: usize| -> Result<&str, GeoError> {
                let b = rec.get(i).unwrap_or(b"");
                std::str::from_utf8(b)
                    .map(str::trim)
                    .map_err(|e| GeoError::Csv {
                        line,
                        message: format!("column {i}: {e}"),
                    })
            };
            let (pref, muni, town, koaza) = (field(cp)?, field(cm)?, field(ct)?, field(ck)?);
            let (lat_s, lon_s) = (field(cla)?, field(clo)?);
            // Both empty: a named place without a published point (a few hundred rows
            // in the Geolonia data). Kept for name matching, located at municipality level.
            let point = if lat_s.is_empty() && lon_s.is_empty() {
                None
            } else {
                let lat = parse_coord(lat_s, line, "緯度", 90.0)?;
                let lon = parse_coord(lon_s, line, "経度", 180.0)?;
                Some(GeoPoint::new(lat, lon))
            };
            if pref.is_empty() || muni.is_empty() {
                return Err(GeoError::Csv {
                    line,
                    message: "empty prefecture or municipality".into(),
                });
            }
            idx.rows += 1;
            let pid = match pref_ids.get(pref) {
                Some(&p) => p,
                None => {
                    let p = idx.prefs.len() as u32;
                    idx.prefs.push(Pref::new(pref));
                    pref_ids.insert(pref.to_string(), p);
                    p
                }
            };
            let mid = match muni_ids.get(&(pid, muni.to_string())) {
                Some(&m) => m,
                None => {
                    let m = idx.munis.len() as u32;
                    idx.munis.push(Muni {
                        pref: pid,
                        name: muni.to_string(),
                        key: key_of(muni),
                        point: GeoPoint::new(0.0, 0.0),
                        towns: Vec::new(),
                        children: Vec::new(),
                    });
                    idx.prefs[pid as usize].munis.push(m);
                    muni_ids.insert((pid, muni.to_string()), m);
                    m
                }
            };
            if town.is_empty() {
                // A municipality-level row: nothing finer to index.
                continue;
            }
            let tid = match town_ids.get(&(mid, town.to_string())) {
                Some(&t) => t,
                None => {
                    let t = idx.towns.len() as u32;
                    idx.towns.push(Town::new(mid, town));
                    idx.munis[mid as usize].towns.push(t);
                    town_ids.insert((mid, town.to_string()), t);
                    t
                }
            };
            let t = &mut idx.towns[tid as usize];
            match point {
                Some(point) if koaza.is_empty() => {
                    t.point = point;
                    t.has_own_point = true;
                }
                Some(point) => t.koazas.push(Koaza {
                    name: koaza.to_string(),
                    key: strip_aza(&key_of(koaza)),
                    point,
                }),
                None => {}
            }
        }
        idx.finish();
        Ok(idx)
    }

    /// Number of data rows loaded.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no rows were loaded.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn finish(&mut self) {
        // Town points without an own row: median of their 小字.
        for t in &mut self.towns {
            if !t.has_own_point && !t.koazas.is_empty() {
                t.point = median_point(t.koazas.iter().map(|k| k.point));
                t.has_own_point = true;
            }
            t.koazas.sort_by(|a, b| a.key.cmp(&b.key));
        }
        let towns = &self.towns;
        for m in &mut self.munis {
            m.point = median_point(
                m.towns
                    .iter()
                    .map(|&t| &towns[t as usize])
                    .filter(|t| t.has_own_point)
                    .map(|t| t.point),
            );
            m.towns
                .sort_by(|&a, &b| towns[a as usize].key.cmp(&towns[b as usize].key));
        }
        // Designated-city groups: `札幌市中央区` → `札幌市`.
        let mut groups: HashMap<(u32, String), Vec<u32>> = HashMap::new();
        for (i, m) in self.munis.iter().enumerate() {
            if let Some(city) = designated_city(&m.name) {
                groups
                    .entry((m.pref, city.to_string()))
                    .or_default()
                    .push(i as u32);
            }
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort();
        for ((pref, city), children) in groups {
            let point = median_point(children.iter().flat_map(|&c| {
                self.munis[c as usize]
                    .towns
                    .iter()
                    .map(|&t| &self.towns[t as usize])
                    .filter(|t| t.has_own_point)
                    .map(|t| t.point)
            }));
            let id = self.munis.len() as u32;
            self.munis.push(Muni {
                pref,
                key: key_of(&city),
                name: city,
                point,
                towns: Vec::new(),
                children,
            });
            self.prefs[pref as usize].munis.push(id);
        }
        for p in &mut self.prefs {
            let munis = &self.munis;
            p.point = median_point(
                p.munis
                    .iter()
                    .filter(|&&m| munis[m as usize].children.is_empty())
                    .map(|&m| munis[m as usize].point),
            );
        }
        // Municipality keys and aliases.
        for (i, m) in self.munis.iter().enumerate() {
            let mut keys = vec![m.key.clone()];
            if let Some(town) = without_county(&m.key) {
                keys.push(town.to_string());
            }
            if let Some(city) = designated_city(&m.key) {
                keys.push(m.key[city.len()..].to_string());
            }
            for k in keys {
                self.max_muni_key_chars = self.max_muni_key_chars.max(k.chars().count());
                let v = self.muni_by_key.entry(k).or_default();
                if !v.contains(&(i as u32)) {
                    v.push(i as u32);
                }
            }
        }
        // Towns without a point of their own sit at their municipality's point.
        for t in &mut self.towns {
            if !t.has_own_point {
                t.point = self.munis[t.muni as usize].point;
            }
        }
        let mut sorted: Vec<u32> = (0..self.towns.len() as u32).collect();
        sorted.sort_by(|&a, &b| self.towns[a as usize].key.cmp(&self.towns[b as usize].key));
        self.towns_sorted = sorted;
    }

    /// Geocode a free-text Japanese address.
    ///
    /// `best` is set only when one reading is strictly better than every other;
    /// ambiguous municipality names (`府中市`) and unmatched town names give
    /// candidates only. Up to `max_candidates` candidates are returned, best first.
    pub fn geocode(&self, query: &str, max_candidates: usize) -> GeocodeResult {
        let normalized = normalize_address(query);
        let norm_chars: Vec<char> = normalized.chars().collect();
        let key = match_key(&normalized);
        let mut out: Vec<Scored> = Vec::new();
        if !key.is_empty() {
            self.collect(&key, &mut out);
        }
        let total = key.len().max(1) as f64;
        for s in &mut out {
            s.cand.score = (s.cand.score + 0.05 * (s.consumed as f64 / total)).clamp(0.0, 1.0);
        }
        out.sort_by(|a, b| {
            b.cand
                .score
                .total_cmp(&a.cand.score)
                .then_with(|| b.exact.cmp(&a.exact))
        });
        dedup(&mut out);
        let best = match out.as_slice() {
            [first, rest @ ..]
                if first.exact
                    && rest
                        .first()
                        .is_none_or(|s| s.cand.score + 1e-9 < first.cand.score) =>
            {
                Some(first.cand.clone())
            }
            _ => None,
        };
        let consumed = best
            .as_ref()
            .and_then(|_| out.first().map(|s| s.consumed))
            .or_else(|| out.iter().filter(|s| s.exact).map(|s| s.consumed).max())
            .unwrap_or(0)
            .min(norm_chars.len());
        let remainder: String = norm_chars[consumed..].iter().collect();
        let remainder = remainder.trim_start_matches('-').to_string();
        let candidates = out
            .into_iter()
            .take(max_candidates)
            .map(|s| s.cand)
            .collect();
        GeocodeResult {
            best,
            candidates,
            remainder,
            normalized,
        }
    }

    /// Type-ahead: towns (and municipalities) whose normalised name starts with,
    /// then contains, the partial query; best first, at most `limit`.
    pub fn suggest(&self, partial: &str, limit: usize) -> Vec<Candidate> {
        let key = match_key(&normalize_address(partial));
        if key.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut out: Vec<Scored> = Vec::new();
        let (pref, paths) = self.parse_prefix(&key);
        if !paths.is_empty() {
            for p in &paths {
                let rest: String = strip_aza_chars(&key[p.consumed..]).iter().collect();
                if rest.is_empty() {
                    out.push(self.muni_cand(p.muni, 0.95, true, p.consumed));
                }
                let scope = self.scope(p.muni);
                self.suggest_towns(
                    scope
                        .iter()
                        .flat_map(|&m| self.munis[m as usize].towns.iter().copied()),
                    &rest,
                    &mut out,
                    limit,
                );
            }
        } else {
            let start = pref.map_or(0, |(_, c)| c);
            let rest: String = key[start..].iter().collect();
            if let Some((pid, _)) = pref
                && rest.is_empty()
            {
                out.push(self.pref_cand(pid, 0.95, true, start));
            }
            // Municipalities whose name starts with the rest.
            let mut ms: Vec<(&String, u32)> = self
                .muni_by_key
                .iter()
                .filter(|(k, _)| k.starts_with(&rest))
                .flat_map(|(k, v)| v.iter().map(move |&m| (k, m)))
                .filter(|&(_, m)| pref.is_none_or(|(p, _)| self.munis[m as usize].pref == p))
                .collect();
            ms.sort_by(|a, b| {
                a.0.chars()
                    .count()
                    .cmp(&b.0.chars().count())
                    .then(a.0.cmp(b.0))
                    .then(a.1.cmp(&b.1))
            });
            for (k, m) in ms.into_iter().take(limit) {
                let extra = k.chars().count() - rest.chars().count();
                out.push(self.muni_cand(m, 0.9 - 0.01 * extra.min(20) as f64, true, key.len()));
            }
            if out.len() < limit {
                let lo = self
                    .towns_sorted
                    .partition_point(|&t| self.towns[t as usize].key.as_str() < rest.as_str());
                let towns = self.towns_sorted[lo..]
                    .iter()
                    .copied()
                    .take_while(|&t| self.towns[t as usize].key.starts_with(&rest))
                    .filter(|&t| {
                        pref.is_none_or(|(p, _)| {
                            self.munis[self.towns[t as usize].muni as usize].pref == p
                        })
                    });
                self.suggest_towns(towns, &rest, &mut out, limit);
            }
            if out.len() < limit && rest.chars().count() >= 2 {
                let towns = self.towns_sorted.iter().copied().filter(|&t| {
                    let tk = &self.towns[t as usize].key;
                    !tk.starts_with(&rest)
                        && tk.contains(&rest)
                        && pref.is_none_or(|(p, _)| {
                            self.munis[self.towns[t as usize].muni as usize].pref == p
                        })
                });
                self.suggest_towns(towns, &rest, &mut out, limit);
            }
        }
        out.sort_by(|a, b| b.cand.score.total_cmp(&a.cand.score));
        dedup(&mut out);
        out.into_iter().take(limit).map(|s| s.cand).collect()
    }

    fn suggest_towns(
        &self,
        towns: impl Iterator<Item = u32>,
        rest: &str,
        out: &mut Vec<Scored>,
        limit: usize,
    ) {
        let rest_len = rest.chars().count();
        let mut hits: Vec<(f64, u32)> = Vec::new();
        for t in towns {
            let tk = &self.towns[t as usize].key;
            let extra = tk.chars().count().saturating_sub(rest_len).min(30) as f64;
            if tk.starts_with(rest) {
                hits.push((0.8 - 0.01 * extra, t));
            } else if !rest.is_empty() && tk.contains(rest) {
                hits.push((0.5 - 0.01 * extra, t));
            }
            if hits.len() >= limit.saturating_mul(50).max(2000) {
                break;
            }
        }
        hits.sort_by(|a, b| {
            b.0.total_cmp(&a.0).then_with(|| {
                self.towns[a.1 as usize]
                    .key
                    .cmp(&self.towns[b.1 as usize].key)
            })
        });
        for (score, t) in hits.into_iter().take(limit) {
            out.push(self.town_cand(t, None, score, true, 0));
        }
    }

    /// Readings of the start of `key` as (prefecture?) + municipality.
    /// Also returns an explicitly matched prefecture, if any.
    fn parse_prefix(&self, key: &[char]) -> (Option<(u32, usize)>, Vec<MuniPath>) {
        let mut starts: Vec<(Option<u32>, usize, bool)> = Vec::new(); // (pref, consumed, full name)
        for (i, p) in self.prefs.iter().enumerate() {
            if starts_with(key, &p.key) {
                starts.push((Some(i as u32), p.key.chars().count(), true));
            } else if let Some(s) = &p.short_key
                && starts_with(key, s)
            {
                starts.push((Some(i as u32), s.chars().count(), false));
            }
        }
        let explicit = starts.iter().find(|s| s.2).map(|s| (s.0.unwrap_or(0), s.1));
        if explicit.is_none() {
            starts.push((None, 0, false));
        }
        let mut paths = Vec::new();
        for &(pref, c, _) in &starts {
            let rest = &key[c..];
            for len in 1..=rest.len().min(self.max_muni_key_chars) {
                let k: String = rest[..len].iter().collect();
                if let Some(ms) = self.muni_by_key.get(&k) {
                    for &m in ms {
                        if pref.is_none_or(|p| self.munis[m as usize].pref == p) {
                            paths.push(MuniPath {
                                muni: m,
                                consumed: c + len,
                            });
                        }
                    }
                }
            }
        }
        (explicit, paths)
    }

    fn scope(&self, muni: u32) -> Vec<u32> {
        let m = &self.munis[muni as usize];
        if m.children.is_empty() {
            vec![muni]
        } else {
            m.children.clone()
        }
    }

    fn collect(&self, key: &[char], out: &mut Vec<Scored>) {
        let (pref, paths) = self.parse_prefix(key);
        for p in &paths {
            self.collect_in_muni(key, *p, out);
        }
        if !paths.is_empty() {
            return;
        }
        let start = pref.map_or(0, |(_, c)| c);
        if let Some((pid, c)) = pref {
            let rest = &key[c..];
            let exact = rest.is_empty() || rest[0].is_ascii_digit();
            out.push(self.pref_cand(pid, 0.3, exact, c));
            if !exact {
                // Closest municipalities of this prefecture.
                let mut fuzzy: Vec<(f64, u32)> = self.prefs[pid as usize]
                    .munis
                    .iter()
                    .map(|&m| (similarity(&self.munis[m as usize].key, rest), m))
                    .collect();
                fuzzy.sort_by(|a, b| b.0.total_cmp(&a.0));
                for (sim, m) in fuzzy.into_iter().take(10) {
                    out.push(self.muni_cand(m, 0.25 * sim, false, c));
                }
            }
        }
        // No municipality: look for a town name anywhere (in the prefecture if known).
        let rest = strip_aza_chars(&key[start..]);
        let all: Vec<u32>;
        let scope: &[u32] = match pref {
            Some((pid, _)) => &self.prefs[pid as usize].munis,
            None => {
                all = (0..self.munis.len() as u32).collect();
                &all
            }
        };
        let offset = key.len() - rest.len();
        let hits = self.match_towns(scope, rest);
        if hits.iter().any(|h| h.1 >= 2) {
            for (town, used, level, koaza) in hits {
                let score = match level {
                    MatchLevel::Koaza => 0.7,
                    _ => 0.6,
                };
                out.push(self.town_cand(town, koaza, score, true, offset + used));
            }
        }
    }

    fn collect_in_muni(&self, key: &[char], path: MuniPath, out: &mut Vec<Scored>) {
        let rest = strip_aza_chars(&key[path.consumed..]);
        let offset = key.len() - rest.len();
        let scope = self.scope(path.muni);
        if rest.is_empty() {
            out.push(self.muni_cand(path.muni, 0.6, true, path.consumed));
            return;
        }
        let hits = self.match_towns(&scope, rest);
        if !hits.is_empty() {
            for (town, used, level, koaza) in hits {
                let score = match level {
                    MatchLevel::Koaza => 0.95,
                    _ => 0.85,
                };
                out.push(self.town_cand(town, koaza, score, true, offset + used));
            }
            return;
        }
        if let Some(base) = self.match_chome_base(&scope, rest) {
            out.push(base_to_scored(self, base, offset));
            return;
        }
        let numeric = rest[0].is_ascii_digit() || rest[0] == '-';
        out.push(self.muni_cand(path.muni, 0.6, numeric, path.consumed));
        if !numeric {
            let rest_s: String = rest.iter().collect();
            let mut fuzzy: Vec<(f64, u32)> = scope
                .iter()
                .flat_map(|&m| self.munis[m as usize].towns.iter().copied())
                .map(|t| {
                    (
                        similarity(
                            &self.towns[t as usize].key,
                            &rest_s.chars().collect::<Vec<_>>(),
                        ),
                        t,
                    )
                })
                .collect();
            fuzzy.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for (sim, t) in fuzzy.into_iter().take(20) {
                out.push(self.town_cand(t, None, 0.45 * sim, false, path.consumed));
            }
        }
    }

    /// Longest town reading of `rest` within the scope: `(town, chars used, level, koaza index)`.
    fn match_towns(
        &self,
        scope: &[u32],
        rest: &[char],
    ) -> Vec<(u32, usize, MatchLevel, Option<usize>)> {
        let mut best_len = 0;
        let mut hits: Vec<u32> = Vec::new();
        for &m in scope {
            let towns = &self.munis[m as usize].towns;
            if towns.is_empty() {
                continue;
            }
            for len in (1..=rest.len().min(40)).rev() {
                if len < best_len {
                    break;
                }
                // Exact town key.
                let k: String = rest[..len].iter().collect();
                let found = self.towns_with_key(towns, &k);
                // `base` + digits as chōme (`丸の内1-9-1`).
                let (chome_found, chome_len) = self.chome_digits(towns, rest, len);
                for (found, used) in [(found, len), (chome_found, chome_len)] {
                    if found.is_empty() {
                        continue;
                    }
                    if used > best_len {
                        best_len = used;
                        hits.clear();
                    }
                    if used == best_len {
                        hits.extend(found);
                    }
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        let mut out = Vec::new();
        for t in hits {
            let town = &self.towns[t as usize];
            let after = strip_aza_chars(skip_dash(&rest[best_len..]));
            let skipped = rest.len() - best_len - after.len();
            let mut koaza_hit = None;
            for len in (1..=after.len().min(30)).rev() {
                let k: String = after[..len].iter().collect();
                if let Ok(i) = town
                    .koazas
                    .binary_search_by(|z| z.key.as_str().cmp(k.as_str()))
                {
                    koaza_hit = Some((i, len));
                    break;
                }
            }
            match koaza_hit {
                Some((i, len)) => {
                    out.push((t, best_len + skipped + len, MatchLevel::Koaza, Some(i)))
                }
                None => out.push((t, best_len, MatchLevel::Oaza, None)),
            }
        }
        out
    }

    fn towns_with_key(&self, towns: &[u32], k: &str) -> Vec<u32> {
        let lo = towns.partition_point(|&t| self.towns[t as usize].key.as_str() < k);
        towns[lo..]
            .iter()
            .copied()
            .take_while(|&t| self.towns[t as usize].key == k)
            .collect()
    }

    /// `rest[..len]` is a chōme base and `rest[len..]` starts with Arabic digits not followed by 番/号.
    fn chome_digits(&self, towns: &[u32], rest: &[char], len: usize) -> (Vec<u32>, usize) {
        let digits: String = rest[len..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if digits.is_empty() {
            return (Vec::new(), 0);
        }
        let end = len + digits.chars().count();
        if matches!(rest.get(end), Some('番' | '号' | '.' | '地')) {
            return (Vec::new(), 0);
        }
        let Some(n) = digits.parse::<u32>().ok().and_then(kanji_number) else {
            return (Vec::new(), 0);
        };
        let k: String = rest[..len].iter().collect::<String>() + &n + "丁目";
        let found = self.towns_with_key(towns, &k);
        (found, end)
    }

    /// `rest` starts with a chōme base name (`丸の内`) but names no chōme: all its chōme.
    fn match_chome_base(&self, scope: &[u32], rest: &[char]) -> Option<(Vec<u32>, usize)> {
        for len in (1..=rest.len().min(40)).rev() {
            let p: String = rest[..len].iter().collect();
            let mut found = Vec::new();
            for &m in scope {
                let towns = &self.munis[m as usize].towns;
                let lo =
                    towns.partition_point(|&t| self.towns[t as usize].key.as_str() < p.as_str());
                found.extend(
                    towns[lo..]
                        .iter()
                        .copied()
                        .take_while(|&t| self.towns[t as usize].key.starts_with(&p))
                        .filter(|&t| self.towns[t as usize].chome.is_some_and(|(b, _)| b == len)),
                );
            }
            if !found.is_empty() {
                return Some((found, len));
            }
        }
        None
    }

    fn pref_cand(&self, pid: u32, score: f64, exact: bool, consumed: usize) -> Scored {
        let p = &self.prefs[pid as usize];
        Scored {
            cand: Candidate {
                prefecture: p.name.clone(),
                municipality: String::new(),
                town: None,
                koaza: None,
                point: p.point,
                level: MatchLevel::Prefecture,
                score,
            },
            exact,
            consumed,
        }
    }

    fn muni_cand(&self, mid: u32, score: f64, exact: bool, consumed: usize) -> Scored {
        let m = &self.munis[mid as usize];
        Scored {
            cand: Candidate {
                prefecture: self.prefs[m.pref as usize].name.clone(),
                municipality: m.name.clone(),
                town: None,
                koaza: None,
                point: m.point,
                level: MatchLevel::Municipality,
                score,
            },
            exact,
            consumed,
        }
    }

    fn town_cand(
        &self,
        tid: u32,
        koaza: Option<usize>,
        score: f64,
        exact: bool,
        consumed: usize,
    ) -> Scored {
        let t = &self.towns[tid as usize];
        let m = &self.munis[t.muni as usize];
        let z = koaza.and_then(|i| t.koazas.get(i));
        Scored {
            cand: Candidate {
                prefecture: self.prefs[m.pref as usize].name.clone(),
                municipality: m.name.clone(),
                town: Some(t.name.clone()),
                koaza: z.map(|z| z.name.clone()),
                point: z.map_or(t.point, |z| z.point),
                // A town without a published point is only located to its municipality.
                level: match (z, t.has_own_point) {
                    (Some(_), _) => MatchLevel::Koaza,
                    (None, true) => MatchLevel::Oaza,
                    (None, false) => MatchLevel::Municipality,
                },
                score,
            },
            exact,
            consumed,
        }
    }
}

fn base_to_scored(idx: &AddressIndex, (towns, len): (Vec<u32>, usize), offset: usize) -> Scored {
    // Group by municipality: one synthesized 大字-level candidate (e.g. `丸の内`) per base.
    let first = towns[0];
    let t = &idx.towns[first as usize];
    let base_name: String = {
        let n = t.name.chars().count();
        let tail = t.chome.map_or(0, |(b, _)| t.key.chars().count() - b);
        t.name.chars().take(n.saturating_sub(tail)).collect()
    };
    let located: Vec<GeoPoint> = towns
        .iter()
        .map(|&t| &idx.towns[t as usize])
        .filter(|t| t.has_own_point)
        .map(|t| t.point)
        .collect();
    let mut s = idx.town_cand(first, None, 0.8, true, offset + len);
    s.cand.town = Some(base_name);
    if !located.is_empty() {
        s.cand.point = median_point(located.into_iter());
        s.cand.level = MatchLevel::Oaza;
    }
    s
}

impl Pref {
    fn new(name: &str) -> Pref {
        let key = key_of(name);
        let short_key = key
            .strip_suffix(['都', '府', '県'])
            .filter(|s| s.chars().count() >= 2)
            .map(str::to_string);
        Pref {
            name: name.to_string(),
            key,
            short_key,
            point: GeoPoint::new(0.0, 0.0),
            munis: Vec::new(),
        }
    }
}

impl Town {
    fn new(muni: u32, name: &str) -> Town {
        let key = strip_aza(&key_of(name));
        let chome = key.strip_suffix("丁目").and_then(|head| {
            let chars: Vec<char> = head.chars().collect();
            (1..=3.min(chars.len())).rev().find_map(|n| {
                let num: String = chars[chars.len() - n..].iter().collect();
                parse_kanji_number(&num).map(|v| (chars.len() - n, v))
            })
        });
        Town {
            muni,
            name: name.to_string(),
            key,
            point: GeoPoint::new(0.0, 0.0),
            has_own_point: false,
            koazas: Vec::new(),
            chome,
        }
    }
}

fn csv_err(e: &csv::Error) -> GeoError {
    GeoError::Csv {
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    }
}

fn parse_coord(s: &str, line: u64, field: &'static str, limit: f64) -> Result<f64, GeoError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(v),
        _ => Err(GeoError::BadCoordinate {
            line,
            field,
            value: s.to_string(),
        }),
    }
}

fn median_point(points: impl Iterator<Item = GeoPoint>) -> GeoPoint {
    let (mut lats, mut lons): (Vec<f64>, Vec<f64>) = points.map(|p| (p.lat, p.lon)).unzip();
    if lats.is_empty() {
        return GeoPoint::new(0.0, 0.0);
    }
    lats.sort_by(f64::total_cmp);
    lons.sort_by(f64::total_cmp);
    GeoPoint::new(lats[lats.len() / 2], lons[lons.len() / 2])
}

/// `札幌市中央区` → `札幌市` (designated-city ward); `None` otherwise.
fn designated_city(name: &str) -> Option<&str> {
    if !name.ends_with('区') {
        return None;
    }
    let pos = name.char_indices().skip(1).find(|&(_, c)| c == '市')?.0 + '市'.len_utf8();
    (pos < name.len()).then(|| &name[..pos])
}

/// `上川郡比布町` → `比布町`; `None` for names without a county part.
fn without_county(name: &str) -> Option<&str> {
    let pos = name.char_indices().skip(1).find(|&(_, c)| c == '郡')?.0 + '郡'.len_utf8();
    let rest = &name[pos..];
    (rest.ends_with('町') || rest.ends_with('村'))
        .then_some(rest)
        .filter(|r| r.chars().count() >= 2)
}

fn strip_aza(key: &str) -> String {
    key.strip_prefix("大字")
        .or_else(|| key.strip_prefix("小字"))
        .or_else(|| key.strip_prefix('字'))
        .unwrap_or(key)
        .to_string()
}

fn strip_aza_chars(key: &[char]) -> &[char] {
    match key {
        ['大' | '小', '字', rest @ ..] => rest,
        ['字', rest @ ..] => rest,
        _ => key,
    }
}

fn skip_dash(key: &[char]) -> &[char] {
    match key {
        ['-' | 'の', rest @ ..] => rest,
        _ => key,
    }
}

fn starts_with(key: &[char], prefix: &str) -> bool {
    let mut it = key.iter();
    prefix.chars().all(|c| it.next() == Some(&c))
}

/// Similarity in 0..=1 between a data key and the (longer) query rest.
fn similarity(data_key: &str, rest: &[char]) -> f64 {
    let a: Vec<char> = data_key.chars().collect();
    if a.is_empty() {
        return 0.0;
    }
    let b = &rest[..rest.len().min(a.len())];
    let lcp = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let ed = levenshtein(&a, b);
    let sim = 1.0 - ed as f64 / a.len().max(b.len()) as f64;
    (0.8 * sim + 0.2 * (lcp as f64 / a.len() as f64)).clamp(0.0, 1.0)
}

fn dedup(out: &mut Vec<Scored>) {
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| {
        let c = &s.cand;
        seen.insert((
            c.prefecture.clone(),
            c.municipality.clone(),
            c.town.clone(),
            c.koaza.clone(),
            c.level,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度
東京都,千代田区,丸の内一丁目,,35.681,139.767
東京都,千代田区,丸の内二丁目,,35.679,139.764
東京都,千代田区,丸の内三丁目,,35.676,139.763
東京都,千代田区,大手町一丁目,,35.686,139.763
東京都,府中市,朝日町一丁目,,35.671,139.516
広島県,府中市,府川町,,34.567,133.236
北海道,札幌市中央区,旭ケ丘一丁目,,43.042,141.319
北海道,札幌市中央区,旭ケ丘二丁目,,43.039,141.321
北海道,札幌市北区,北十条西一丁目,,43.075,141.347
北海道,上川郡比布町,北一線,,43.895,142.510
北海道,旭川市,東鷹栖一線,十一号,43.817,142.416
北海道,旭川市,東鷹栖一線,十五号,43.833,142.431
岩手県,盛岡市,大字上鹿妻,,39.690,141.100
岩手県,盛岡市,大字上鹿妻,字五兵エ新田,39.691,141.101
東京都,目黒区,自由が丘一丁目,,35.607,139.669
北海道,旭川市,物流団地一条一丁目,,,
";

    fn idx() -> AddressIndex {
        match AddressIndex::from_csv(CSV.as_bytes()) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    fn best(i: &AddressIndex, q: &str) -> Option<Candidate> {
        i.geocode(q, 5).best
    }

    #[test]
    fn loads_rows() {
        let i = idx();
        assert_eq!(i.len(), 16);
        assert!(!i.is_empty());
    }

    #[test]
    fn full_address_and_forms() {
        let i = idx();
        for q in [
            "東京都千代田区丸の内一丁目",
            "千代田区丸の内1丁目",
            "東京都 千代田区 丸の内１丁目",
            "千代田区丸ノ内一丁目",
            "東京千代田区丸の内1丁目",
        ] {
            let b = best(&i, q);
            assert_eq!(
                b.as_ref().and_then(|b| b.town.as_deref()),
                Some("丸の内一丁目"),
                "{q}"
            );
            assert_eq!(b.map(|b| b.level), Some(MatchLevel::Oaza), "{q}");
        }
        let r = i.geocode("東京都千代田区丸の内１－９－１", 5);
        assert_eq!(
            r.best.as_ref().and_then(|b| b.town.as_deref()),
            Some("丸の内一丁目")
        );
        assert_eq!(r.remainder, "9-1");
        assert_eq!(r.normalized, "東京都千代田区丸の内1-9-1");
        let r = i.geocode("千代田区丸の内二丁目9番1号", 5);
        assert_eq!(r.best.and_then(|b| b.town).as_deref(), Some("丸の内二丁目"));
        assert_eq!(r.remainder, "9番1号");
    }

    #[test]
    fn ke_variants_and_city_forms() {
        let i = idx();
        for q in [
            "北海道札幌市中央区旭ヶ丘2丁目",
            "札幌市中央区旭ケ丘二丁目",
            "札幌市中央区旭が丘2-5-3",
            "札幌市旭ヶ丘2丁目",
        ] {
            let b = best(&i, q);
            assert_eq!(
                b.as_ref().map(|b| b.municipality.as_str()),
                Some("札幌市中央区"),
                "{q}"
            );
            assert_eq!(
                b.and_then(|b| b.town).as_deref(),
                Some("旭ケ丘二丁目"),
                "{q}"
            );
        }
        assert_eq!(i.geocode("札幌市中央区旭が丘2-5-3", 5).remainder, "5-3");
        assert_eq!(
            best(&i, "目黒区自由ヶ丘1丁目")
                .and_then(|b| b.town)
                .as_deref(),
            Some("自由が丘一丁目")
        );
        // Whole designated city.
        let b = best(&i, "札幌市");
        assert_eq!(
            b.as_ref().map(|b| (b.municipality.as_str(), b.level)),
            Some(("札幌市", MatchLevel::Municipality))
        );
    }

    #[test]
    fn county_and_oaza_prefix_optional() {
        let i = idx();
        assert_eq!(
            best(&i, "比布町北一線").map(|b| b.municipality).as_deref(),
            Some("上川郡比布町")
        );
        assert_eq!(
            best(&i, "北海道上川郡比布町北一線1番地").map(|b| b.level),
            Some(MatchLevel::Oaza)
        );
        for q in [
            "盛岡市上鹿妻",
            "盛岡市大字上鹿妻",
            "岩手県盛岡市大字上鹿妻5-1",
        ] {
            assert_eq!(
                best(&i, q).and_then(|b| b.town).as_deref(),
                Some("大字上鹿妻"),
                "{q}"
            );
        }
        let b = best(&i, "盛岡市上鹿妻字五兵エ新田12");
        assert_eq!(b.as_ref().map(|b| b.level), Some(MatchLevel::Koaza));
        assert_eq!(b.and_then(|b| b.koaza).as_deref(), Some("字五兵エ新田"));
        let b = best(&i, "旭川市東鷹栖一線十五号");
        assert_eq!(b.and_then(|b| b.koaza).as_deref(), Some("十五号"));
    }

    #[test]
    fn ambiguous_municipality_gives_candidates_only() {
        let i = idx();
        let r = i.geocode("府中市", 5);
        assert!(r.best.is_none());
        let prefs: Vec<_> = r.candidates.iter().map(|c| c.prefecture.as_str()).collect();
        assert!(
            prefs.contains(&"東京都") && prefs.contains(&"広島県"),
            "{prefs:?}"
        );
        // The town disambiguates.
        assert_eq!(
            best(&i, "府中市朝日町1丁目")
                .map(|b| b.prefecture)
                .as_deref(),
            Some("東京都")
        );
        assert_eq!(
            best(&i, "広島県府中市").map(|b| b.prefecture).as_deref(),
            Some("広島県")
        );
    }

    #[test]
    fn chome_base_without_number() {
        let i = idx();
        let b = best(&i, "千代田区丸の内");
        assert_eq!(b.as_ref().and_then(|b| b.town.as_deref()), Some("丸の内"));
        assert_eq!(b.map(|b| b.level), Some(MatchLevel::Oaza));
    }

    #[test]
    fn unmatched_town_is_never_a_guess() {
        let i = idx();
        let r = i.geocode("千代田区丸の外一丁目", 5);
        assert!(r.best.is_none());
        assert_eq!(
            r.candidates.first().map(|c| c.level),
            Some(MatchLevel::Municipality)
        );
        assert!(
            r.candidates
                .iter()
                .any(|c| c.town.as_deref() == Some("丸の内一丁目")),
            "{:?}",
            r.candidates
        );
        let r = i.geocode("ほげほげ", 5);
        assert!(r.best.is_none());
        let r = i.geocode("", 5);
        assert!(r.best.is_none() && r.candidates.is_empty());
        // Prefecture only, then garbage.
        let r = i.geocode("東京都ほげ", 5);
        assert!(r.best.is_none());
        assert_eq!(
            best(&i, "東京都").map(|b| b.level),
            Some(MatchLevel::Prefecture)
        );
    }

    #[test]
    fn suggestions() {
        let i = idx();
        let s = i.suggest("千代田区丸の", 10);
        let towns: Vec<_> = s.iter().filter_map(|c| c.town.as_deref()).collect();
        assert_eq!(towns, ["丸の内一丁目", "丸の内三丁目", "丸の内二丁目"]);
        let s = i.suggest("府中", 10);
        assert!(
            s.iter().filter(|c| c.municipality == "府中市").count() == 2,
            "{s:?}"
        );
        let s = i.suggest("旭ヶ", 10);
        assert_eq!(s.len(), 2);
        let s = i.suggest("ノ内", 10);
        assert!(
            s.iter()
                .all(|c| c.town.as_deref().is_some_and(|t| t.contains("の内")))
                && !s.is_empty(),
            "{s:?}"
        );
        assert!(i.suggest("", 10).is_empty());
        assert_eq!(i.suggest("丸", 1).len(), 1);
    }

    #[test]
    fn rows_without_coordinates_locate_to_municipality() {
        let i = idx();
        let b = best(&i, "旭川市物流団地一条1丁目");
        assert_eq!(
            b.as_ref().and_then(|b| b.town.as_deref()),
            Some("物流団地一条一丁目")
        );
        assert_eq!(b.as_ref().map(|b| b.level), Some(MatchLevel::Municipality));
        // The municipality's point (median of its located towns), never (0, 0).
        assert!(b.is_some_and(|b| crate::is_in_japan(b.point)));
    }

    #[test]
    fn bad_rows_are_errors() {
        let bad = "都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度\n東京都,千代田区,丸の内一丁目,,35.6,139.7\n東京都,千代田区,x,,abc,139.7\n";
        match AddressIndex::from_csv(bad.as_bytes()) {
            Err(GeoError::BadCoordinate { line, field, .. }) => {
                assert_eq!((line, field), (3, "緯度"))
            }
            other => panic!("{other:?}"),
        }
        let bad = "都道府県名,市区町村名,大字町丁目名,緯度,経度\n";
        assert!(matches!(
            AddressIndex::from_csv(bad.as_bytes()),
            Err(GeoError::MissingColumn(_))
        ));
        let bad = "都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度\n東京都,千代田区,x,,95,139.7\n";
        assert!(AddressIndex::from_csv(bad.as_bytes()).is_err());
    }
}
