//! What stands between a signed-in user and the whole API: a password an admin reset (to be
//! changed first), or a second factor the account requires and the user has not enrolled.

/// A user's security standing, as stored: the facts [`Gate::of`] decides from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// An admin set a one-time password; the user must choose their own before anything else.
    pub must_change_password: bool,
    /// The user has enrolled a second factor (TOTP).
    pub second_factor_enabled: bool,
    /// The user's account requires a second factor of every user.
    pub second_factor_required: bool,
}

/// What a signed-in user may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Everything their role allows.
    Open,
    /// Only change their password (and read who they are).
    PasswordChange,
    /// Only enrol a second factor (and read who they are).
    SecondFactorEnrolment,
}

impl Gate {
    /// The gate of a standing. A reset password comes first: the enrolment that may follow
    /// should not happen under a password the admin knows.
    pub fn of(standing: Standing) -> Gate {
        if standing.must_change_password {
            Gate::PasswordChange
        } else if standing.second_factor_required && !standing.second_factor_enabled {
            Gate::SecondFactorEnrolment
        } else {
            Gate::Open
        }
    }
}

impl Standing {
    /// What this standing lets the user do now.
    pub fn gate(self) -> Gate {
        Gate::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_password_comes_before_enrolment() {
        let open = Standing::default();
        assert_eq!(open.gate(), Gate::Open);
        let required = Standing {
            second_factor_required: true,
            ..open
        };
        assert_eq!(required.gate(), Gate::SecondFactorEnrolment);
        let enrolled = Standing {
            second_factor_enabled: true,
            ..required
        };
        assert_eq!(enrolled.gate(), Gate::Open);
        let reset = Standing {
            must_change_password: true,
            ..required
        };
        assert_eq!(reset.gate(), Gate::PasswordChange);
    }
}
