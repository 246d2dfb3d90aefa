//! An existing cluster's runtime and Spark conf (`GET /api/2.1/clusters/get`, databricks-sdk-py
//! `service/compute.py` `ClustersAPI.get`), for the checks a target's `cluster_id` needs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::Client;
use super::error::ApiError;

/// What `clusters/get` says that the checks read (`ClusterDetails`).
#[derive(Clone, Debug, Deserialize)]
pub struct ClusterDetails {
    #[serde(default)]
    pub spark_version: Option<String>,
    #[serde(default)]
    pub spark_conf: BTreeMap<String, String>,
}

pub struct Clusters<'a> {
    pub client: &'a Client,
}

impl Clusters<'_> {
    pub fn get(&self, cluster_id: &str) -> Result<ClusterDetails, ApiError> {
        self.client
            .get_as("/api/2.1/clusters/get", &[("cluster_id", cluster_id)])
    }
}
