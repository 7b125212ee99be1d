//! String commands (t_string.c): GET, SET, INCR, INCRBY, APPEND, MSET.

use super::{arity_error, err_int, Caller, Ctx, Prop};
use crate::redis::node::Node;
use crate::redis::resp::{string2ll, Reply};
use crate::time::SimTime;

/// SET's expiry option: a relative or absolute time, in seconds or milliseconds.
#[derive(Copy, Clone, PartialEq, Eq)]
enum SetExpire {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl SetExpire {
    fn parse(opt: &[u8]) -> Option<SetExpire> {
        [
            (&b"ex"[..], SetExpire::Ex),
            (b"px", SetExpire::Px),
            (b"exat", SetExpire::ExAt),
            (b"pxat", SetExpire::PxAt),
        ]
        .into_iter()
        .find_map(|(name, unit)| opt.eq_ignore_ascii_case(name).then_some(unit))
    }

    /// The absolute expiry in Unix milliseconds, if it does not overflow.
    fn at_ms(self, v: i64, now_ms: i64) -> Option<i64> {
        match self {
            SetExpire::Ex => v.checked_mul(1000).and_then(|x| x.checked_add(now_ms)),
            SetExpire::Px => v.checked_add(now_ms),
            SetExpire::ExAt => v.checked_mul(1000),
            SetExpire::PxAt => Some(v),
        }
    }
}

/// SET's options after the value, as `parseExtendedStringArgumentsOrReply` reads them.
#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    expire: Option<(SetExpire, i64)>,
}

impl SetOptions {
    fn parse(args: &[&[u8]]) -> Result<SetOptions, Reply> {
        let mut o = SetOptions::default();
        let mut i = 3;
        while i < args.len() {
            let opt = args[i];
            let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
            let expire = SetExpire::parse(opt)
                .filter(|_| o.expire.is_none() && !o.keepttl && i + 1 < args.len());
            if is("nx") && !o.xx {
                o.nx = true;
            } else if is("xx") && !o.nx {
                o.xx = true;
            } else if is("get") {
                o.get = true;
            } else if is("keepttl") && o.expire.is_none() {
                o.keepttl = true;
            } else if let Some(unit) = expire {
                let Some(v) = string2ll(args[i + 1]) else {
                    return Err(err_int());
                };
                o.expire = Some((unit, v));
                i += 1;
            } else {
                return Err(Reply::err("ERR syntax error"));
            }
            i += 1;
        }
        Ok(o)
    }

    /// The absolute expiry in Unix milliseconds that the options ask for.
    fn at_ms(&self, now_ms: i64) -> Result<Option<u64>, Reply> {
        let Some((unit, v)) = self.expire else {
            return Ok(None);
        };
        match unit.at_ms(v, now_ms) {
            Some(ms) if v > 0 && ms > 0 => Ok(Some(ms as u64)),
            _ => Err(Reply::err("ERR invalid expire time in 'set' command")),
        }
    }
}

impl Node {
    pub(super) fn get_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        match self.get_value(now, ctx, args[1]) {
            Some(v) => Reply::Bulk(v),
            None => Reply::Null,
        }
    }

    pub(super) fn set_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let (key, value) = (args[1], args[2]);
        let opts = match SetOptions::parse(args) {
            Ok(o) => o,
            Err(e) => return e,
        };
        let at_ms = match opts.at_ms(Self::now_ms(now) as i64) {
            Ok(at) => at,
            Err(e) => return e,
        };
        // SET with a relative expiry propagates as `SET key value PXAT <ms>` (t_string.c).
        let what = match (opts.expire, at_ms) {
            (Some((unit, _)), Some(ms)) if unit != SetExpire::PxAt => Prop::Rewritten(vec![
                b"SET".to_vec(),
                key.to_vec(),
                value.to_vec(),
                b"PXAT".to_vec(),
                ms.to_string().into_bytes(),
            ]),
            _ => Prop::Original,
        };
        if opts.get || opts.nx || opts.xx || opts.keepttl {
            return self.set_conditional(now, ctx, args, &opts, at_ms, what);
        }
        // The common case, in one table lookup: a key found expired is deleted first, and that
        // deletion propagates as DEL before the SET (`expireIfNeeded` then the write).
        let expired = self.keyspace.db_mut(ctx.db).set_reporting_expired(
            key,
            value,
            at_ms,
            Self::now_ms(now),
        );
        if expired && self.is_master() && ctx.caller != Caller::Master {
            self.stats.expired_keys += 1;
            let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
                b"UNLINK"
            } else {
                b"DEL"
            };
            ctx.ops.push((
                ctx.db as i64,
                Prop::Rewritten(vec![del.to_vec(), key.to_vec()]),
            ));
        }
        self.propagate_as(ctx, what);
        Reply::ok()
    }

    /// SET with NX, XX, GET or KEEPTTL: the old value decides, and may be the reply.
    fn set_conditional(
        &mut self,
        now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
        opts: &SetOptions,
        at_ms: Option<u64>,
        what: Prop,
    ) -> Reply {
        let (key, value) = (args[1], args[2]);
        let old = self.get_value(now, ctx, key);
        let exists = old.is_some();
        let old_reply = || match &old {
            Some(v) => Reply::Bulk(v.clone()),
            None => Reply::Null,
        };
        if (opts.nx && exists) || (opts.xx && !exists) {
            return if opts.get { old_reply() } else { Reply::Null };
        }
        let keep = if opts.keepttl {
            self.keyspace
                .db(ctx.db)
                .get(key)
                .and_then(|e| e.expire_at_ms)
        } else {
            None
        };
        self.keyspace.db_mut(ctx.db).set(key, value, at_ms.or(keep));
        self.propagate_as(ctx, what);
        if opts.get {
            old_reply()
        } else {
            Reply::ok()
        }
    }

    pub(super) fn incr_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        self.incr_by(now, ctx, args[1], 1)
    }

    pub(super) fn incrby_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        match string2ll(args[2]) {
            Some(by) => self.incr_by(now, ctx, args[1], by),
            None => err_int(),
        }
    }

    /// `incrDecrCommand`: the value parsed as an integer, plus `by`, keeping its expiry.
    fn incr_by(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
        self.expire_if_needed(now, ctx, key);
        let (cur, exp) = match self.keyspace.db(ctx.db).get(key) {
            Some(e) => match string2ll(&e.value) {
                Some(v) => (v, e.expire_at_ms),
                None => return err_int(),
            },
            None => (0, None),
        };
        let Some(new) = cur.checked_add(by) else {
            return Reply::err("ERR increment or decrement would overflow");
        };
        self.keyspace
            .db_mut(ctx.db)
            .set(key, new.to_string().as_bytes(), exp);
        self.propagate_as(ctx, Prop::Original);
        Reply::Integer(new)
    }

    pub(super) fn append_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let (key, tail) = (args[1], args[2]);
        self.expire_if_needed(now, ctx, key);
        let db = self.keyspace.db_mut(ctx.db);
        let len = db.append(key, tail).unwrap_or_else(|| {
            db.set(key, tail, None);
            tail.len()
        });
        self.propagate_as(ctx, Prop::Original);
        Reply::Integer(len as i64)
    }

    pub(super) fn mset_command(&mut self, _now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        // The arity says at least one pair; `msetGenericCommand` wants whole pairs.
        if args.len() % 2 == 0 {
            return arity_error("mset");
        }
        for kv in args[1..].chunks(2) {
            self.keyspace.db_mut(ctx.db).set(kv[0], kv[1], None);
        }
        self.propagate_as(ctx, Prop::Original);
        Reply::ok()
    }
}
