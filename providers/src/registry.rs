//! From provider id to adapter: the factories of the providers that ship with paymux, and
//! any a test adds.

use std::collections::BTreeMap;

use crate::factory::ProviderFactory;

/// The providers paymux knows, by id.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, ProviderFactory>,
}

impl Registry {
    /// The adapters that ship with paymux.
    pub fn standard() -> Registry {
        [
            crate::sknpay::FACTORY,
            crate::skipify::FACTORY,
            crate::pakhi::FACTORY,
            crate::kwik::FACTORY,
            crate::spankpay::FACTORY,
        ]
        .into_iter()
        .fold(Registry::default(), Registry::with)
    }

    /// Adds (or replaces) a provider; tests register doubles this way.
    pub fn with(mut self, factory: impl Into<ProviderFactory>) -> Registry {
        let factory = factory.into();
        self.factories.insert(factory.id(), factory);
        self
    }

    pub fn get(&self, id: &str) -> Option<&ProviderFactory> {
        self.factories.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.factories.keys().copied()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}
