//! An in-memory policy for tests: rules in a list, profile settings, and a mutating call that
//! can be made to fail.

use super::api::{ApiError, Field, FirewallApi, ProfileSetting, RuleState};
use portdoctor_firewall::windows::Profile;
use std::cell::{Cell, RefCell};

/// Rules in memory.
#[derive(Default)]
pub struct Fake {
    /// The policy's rules.
    pub rules: RefCell<Vec<RuleState>>,
    /// Profiles that block all incoming connections (the others do not).
    pub block_all: RefCell<Vec<Profile>>,
    /// Mutating calls made so far.
    pub calls: Cell<usize>,
    /// This mutating call (1-based) fails with E_FAIL.
    pub fail_on: Cell<Option<usize>>,
}

impl Fake {
    /// A policy holding `rules`.
    pub fn with(rules: Vec<RuleState>) -> Fake {
        Fake {
            rules: RefCell::new(rules),
            ..Fake::default()
        }
    }

    fn count(&self, call: &str) -> Result<(), ApiError> {
        self.calls.set(self.calls.get() + 1);
        if self.fail_on.get() == Some(self.calls.get()) {
            return Err(ApiError::Call {
                call: call.into(),
                message: "Unspecified error (0x80004005)".into(),
            });
        }
        Ok(())
    }
}

impl FirewallApi for Fake {
    fn rules(&self) -> Result<Vec<RuleState>, ApiError> {
        Ok(self.rules.borrow().clone())
    }

    fn add(&self, rule: &RuleState) -> Result<(), ApiError> {
        self.count("INetFwRules::Add")?;
        self.rules.borrow_mut().push(rule.clone());
        Ok(())
    }

    fn set(&self, rule: &RuleState, value: &Field) -> Result<(), ApiError> {
        self.count("INetFwRule::put")?;
        let mut rules = self.rules.borrow_mut();
        let mut found = rules.iter_mut().filter(|r| r.same(rule));
        match (found.next(), found.next()) {
            (Some(r), None) => {
                *r = value.set_in(r);
                Ok(())
            }
            _ => Err(ApiError::NotFound(format!(
                "not exactly one `{}`",
                rule.name
            ))),
        }
    }

    fn remove(&self, rule: &RuleState) -> Result<(), ApiError> {
        self.count("INetFwRules::Remove")?;
        let mut rules = self.rules.borrow_mut();
        let at = rules.iter().position(|r| r.name == rule.name);
        at.map(|i| rules.remove(i))
            .map(|_| ())
            .ok_or_else(|| ApiError::NotFound(format!("no `{}`", rule.name)))
    }

    fn profile_setting(&self, p: Profile, _: ProfileSetting) -> Result<ProfileSetting, ApiError> {
        let on = self.block_all.borrow().contains(&p);
        Ok(ProfileSetting::BlockAllInbound(on))
    }

    fn put_profile_setting(&self, p: Profile, to: ProfileSetting) -> Result<(), ApiError> {
        self.count("INetFwPolicy2::put_BlockAllInboundTraffic")?;
        let ProfileSetting::BlockAllInbound(on) = to;
        let mut block_all = self.block_all.borrow_mut();
        block_all.retain(|x| *x != p);
        if on {
            block_all.push(p);
            block_all.sort();
        }
        Ok(())
    }
}

/// Shared with the test that inspects it.
impl<T: FirewallApi> FirewallApi for std::rc::Rc<T> {
    fn rules(&self) -> Result<Vec<RuleState>, ApiError> {
        self.as_ref().rules()
    }
    fn add(&self, rule: &RuleState) -> Result<(), ApiError> {
        self.as_ref().add(rule)
    }
    fn set(&self, rule: &RuleState, value: &Field) -> Result<(), ApiError> {
        self.as_ref().set(rule, value)
    }
    fn remove(&self, rule: &RuleState) -> Result<(), ApiError> {
        self.as_ref().remove(rule)
    }
    fn profile_setting(&self, p: Profile, of: ProfileSetting) -> Result<ProfileSetting, ApiError> {
        self.as_ref().profile_setting(p, of)
    }
    fn put_profile_setting(&self, p: Profile, to: ProfileSetting) -> Result<(), ApiError> {
        self.as_ref().put_profile_setting(p, to)
    }
}
