//! Keyspace commands (db.c, expire.c): DEL, EXISTS, the EXPIRE family, TTL and PTTL, FLUSHALL,
//! FLUSHDB, DBSIZE, SELECT, DBDIGEST; and lazy expiry, which every key read goes through.

use super::{err_int, Caller, Ctx, Prop};
use crate::redis::node::Node;
use crate::redis::resp::{string2ll, Reply};
use crate::time::SimTime;

/// EXPIRE's condition option (Redis 7).
#[derive(Copy, Clone, PartialEq, Eq)]
enum ExpireCondition {
    Nx,
    Xx,
    Gt,
    Lt,
}

impl ExpireCondition {
    fn parse(opt: &[u8]) -> Option<ExpireCondition> {
        [
            (&b"nx"[..], ExpireCondition::Nx),
            (b"xx", ExpireCondition::Xx),
            (b"gt", ExpireCondition::Gt),
            (b"lt", ExpireCondition::Lt),
        ]
        .into_iter()
        .find_map(|(name, c)| opt.eq_ignore_ascii_case(name).then_some(c))
    }

    /// Whether a key whose expiry is `current` takes the new expiry `when`.
    fn allows(self, current: Option<u64>, when: i64) -> bool {
        match self {
            ExpireCondition::Nx => current.is_none(),
            ExpireCondition::Xx => current.is_some(),
            ExpireCondition::Gt => current.is_some_and(|c| when > c as i64),
            ExpireCondition::Lt => current.is_none_or(|c| when < c as i64),
        }
    }
}

/// FLUSHALL and FLUSHDB take nothing, or one of ASYNC and SYNC (`getFlushCommandFlags`). Both
/// free the dataset at once here: a lazy free's background thread is not modelled.
fn flush_options_valid(args: &[&[u8]]) -> bool {
    match args {
        [_] => true,
        [_, mode] => mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync"),
        _ => false,
    }
}

impl Node {
    /// Whether `key` is logically expired for this caller, deleting it (and queueing `DEL`) when
    /// this node is a master: `expireIfNeeded`.
    pub(super) fn expire_if_needed(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8]) -> bool {
        let db = ctx.db;
        let Some(e) = self.keyspace.db(db).get(key) else {
            return false;
        };
        let Some(at) = e.expire_at_ms else {
            return false;
        };
        if at > Self::now_ms(now) {
            return false;
        }
        if !self.is_master() {
            // The master's stream decides; for the master client a key is never expired.
            return ctx.caller != Caller::Master;
        }
        self.keyspace.db_mut(db).remove(key);
        self.stats.expired_keys += 1;
        let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
            b"UNLINK"
        } else {
            b"DEL"
        };
        ctx.ops
            .push((db as i64, Prop::Rewritten(vec![del.to_vec(), key.to_vec()])));
        true
    }

    pub(super) fn get_value(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
        if self.expire_if_needed(now, ctx, key) {
            return None;
        }
        self.keyspace.db(ctx.db).get(key).map(|e| e.value.to_vec())
    }

    fn exists(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8]) -> bool {
        !self.expire_if_needed(now, ctx, key) && self.keyspace.db(ctx.db).contains(key)
    }

    pub(super) fn del_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let mut n = 0;
        for k in &args[1..] {
            self.expire_if_needed(now, ctx, k);
            if self.keyspace.db_mut(ctx.db).remove(k) {
                n += 1;
            }
        }
        if n > 0 {
            self.propagate_as(ctx, Prop::Original);
        }
        Reply::Integer(n)
    }

    pub(super) fn exists_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let mut n = 0;
        for k in &args[1..] {
            if self.exists(now, ctx, k) {
                n += 1;
            }
        }
        Reply::Integer(n)
    }

    pub(super) fn expire_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let base_ms = Self::now_ms(now) as i64;
        self.expire_generic(now, ctx, args, "expire", base_ms, 1000)
    }

    pub(super) fn pexpire_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let base_ms = Self::now_ms(now) as i64;
        self.expire_generic(now, ctx, args, "pexpire", base_ms, 1)
    }

    pub(super) fn pexpireat_command(
        &mut self,
        now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        self.expire_generic(now, ctx, args, "pexpireat", 0, 1)
    }

    /// `expireGenericCommand`: the key expires at `base_ms + args[2] * unit_ms`. An expiry in
    /// the past deletes the key; any other propagates as `PEXPIREAT` with the absolute time.
    fn expire_generic(
        &mut self,
        now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
        name: &str,
        base_ms: i64,
        unit_ms: i64,
    ) -> Reply {
        let key = args[1];
        let Some(v) = string2ll(args[2]) else {
            return err_int();
        };
        let Some(when) = v.checked_mul(unit_ms).and_then(|x| x.checked_add(base_ms)) else {
            return Reply::err(format!("ERR invalid expire time in '{name}' command"));
        };
        let mut condition = None;
        for opt in &args[3..] {
            match ExpireCondition::parse(opt) {
                Some(c) if condition.is_none() => condition = Some(c),
                _ => {
                    return Reply::err(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(opt)
                    ))
                }
            }
        }
        if !self.exists(now, ctx, key) {
            return Reply::Integer(0);
        }
        let current = self
            .keyspace
            .db(ctx.db)
            .get(key)
            .and_then(|e| e.expire_at_ms);
        if !condition.is_none_or(|c| c.allows(current, when)) {
            return Reply::Integer(0);
        }
        let now_ms = Self::now_ms(now) as i64;
        if when <= now_ms && self.is_master() {
            // Already in the past: delete, propagated as DEL (or UNLINK).
            self.keyspace.db_mut(ctx.db).remove(key);
            let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
                b"UNLINK"
            } else {
                b"DEL"
            };
            self.propagate_as(ctx, Prop::Rewritten(vec![del.to_vec(), key.to_vec()]));
            return Reply::Integer(1);
        }
        self.keyspace
            .db_mut(ctx.db)
            .set_expire(key, Some(when.max(0) as u64));
        let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        argv[0] = b"PEXPIREAT".to_vec();
        argv[2] = when.to_string().into_bytes();
        self.propagate_as(ctx, Prop::Rewritten(argv));
        Reply::Integer(1)
    }

    /// `persistCommand`: 1, and propagated, only when a timeout was removed.
    pub(super) fn persist_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        if !self.exists(now, ctx, args[1]) {
            return Reply::Integer(0);
        }
        let removed = self
            .keyspace
            .db_mut(ctx.db)
            .set_expire(args[1], None)
            .is_some_and(|before| before.is_some());
        if removed {
            self.propagate_as(ctx, Prop::Original);
        }
        Reply::Integer(i64::from(removed))
    }

    pub(super) fn ttl_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        self.ttl_generic(now, ctx, args[1], false)
    }

    pub(super) fn pttl_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        self.ttl_generic(now, ctx, args[1], true)
    }

    /// `ttlGenericCommand`: -2 for a missing key, -1 for one without expiry, else the time left
    /// (seconds rounded to the nearest).
    fn ttl_generic(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8], output_ms: bool) -> Reply {
        if !self.exists(now, ctx, key) {
            return Reply::Integer(-2);
        }
        match self
            .keyspace
            .db(ctx.db)
            .get(key)
            .and_then(|e| e.expire_at_ms)
        {
            None => Reply::Integer(-1),
            Some(at) => {
                let ms = at.saturating_sub(Self::now_ms(now)) as i64;
                Reply::Integer(if output_ms { ms } else { (ms + 500) / 1000 })
            }
        }
    }

    pub(super) fn flushall_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        if !flush_options_valid(args) {
            return Reply::err("ERR syntax error");
        }
        self.keyspace.flush();
        self.propagate_as(ctx, Prop::Original);
        Reply::ok()
    }

    pub(super) fn flushdb_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        if !flush_options_valid(args) {
            return Reply::err("ERR syntax error");
        }
        self.keyspace.db_mut(ctx.db).clear();
        self.propagate_as(ctx, Prop::Original);
        Reply::ok()
    }

    pub(super) fn dbsize_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        _args: &[&[u8]],
    ) -> Reply {
        Reply::Integer(self.keyspace.db(ctx.db).len() as i64)
    }

    pub(super) fn dbdigest_command(
        &mut self,
        _now: SimTime,
        _ctx: &mut Ctx,
        _args: &[&[u8]],
    ) -> Reply {
        Reply::Bulk(format!("{:016x}", self.keyspace.digest()).into_bytes())
    }

    pub(super) fn select_command(&mut self, _now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        match string2ll(args[1]) {
            None => err_int(),
            Some(n) if n < 0 || n as u64 >= self.cfg.databases => {
                Reply::err("ERR DB index is out of range")
            }
            Some(n) => {
                ctx.db = n as usize;
                Reply::ok()
            }
        }
    }
}
