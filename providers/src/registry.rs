//! From provider id to adapter: the factories of the providers that ship with paymux, and
//! any a test adds.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::factory::ProviderFactory;

/// The providers paymux knows, by id.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, Arc<dyn ProviderFactory>>,
}

impl Registry {
    /// The adapters that ship with paymux.
    pub fn standard() -> Registry {
        Registry::default()
            .with(crate::sknpay::SknPayFactory)
            .with(crate::skipify::SkipifyFactory)
            .with(crate::pakhi::PakhiFactory)
            .with(crate::kwik::KwikFactory)
            .with(crate::spankpay::SpankPayFactory)
    }

    /// Adds (or replaces) a provider; tests register doubles this way.
    pub fn with(mut self, factory: impl ProviderFactory) -> Registry {
        self.factories.insert(factory.id(), Arc::new(factory));
        self
    }

    pub fn get(&self, id: &str) -> Option<&dyn ProviderFactory> {
        self.factories.get(id).map(|factory| factory.as_ref())
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
