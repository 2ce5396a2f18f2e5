# GPU node pools for the vision platform on one existing GKE cluster (GKE clusters are regional, so each
# platform region is a cluster of its own; the root module calls this once per region):
# - an on-demand inference pool labelled resilience.dev/pool=gpu-inference (the k8s overlays' inference
#   nodeSelector) and resilience.dev/region=<platform region>;
# - optionally a spot training pool that scales to zero, labelled and tainted
#   resilience.dev/pool=training:NoSchedule, so only the training CronJob (which tolerates it) runs on
#   preemptible capacity and no serving pod is ever evicted by a spot reclaim.
# GKE installs the NVIDIA driver itself (gpu_driver_installation_config) and taints every GPU node
# nvidia.com/gpu=present:NoSchedule; pods requesting nvidia.com/gpu get the toleration automatically.

locals {
  common_labels = merge(var.labels, { "app.kubernetes.io/part-of" = "vision-platform" })
}

resource "google_container_node_pool" "inference" {
  name           = "inference-${var.platform_region}"
  project        = var.project_id
  cluster        = var.cluster
  location       = var.location
  node_locations = var.inference_zones

  autoscaling {
    total_min_node_count = var.inference_min_nodes
    total_max_node_count = var.inference_max_nodes
    location_policy      = "BALANCED"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  # one new node before an old one goes: a region keeps its serving capacity during upgrades
  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0
  }

  node_config {
    machine_type    = var.inference_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = var.disk_size_gb
    service_account = var.node_service_account
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    labels = merge(local.common_labels, {
      "resilience.dev/pool"   = "gpu-inference"
      "resilience.dev/region" = var.platform_region
    })

    guest_accelerator {
      type  = var.inference_accelerator.type
      count = var.inference_accelerator.count

      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}

resource "google_container_node_pool" "training" {
  count = var.training_enabled ? 1 : 0

  name           = "training"
  project        = var.project_id
  cluster        = var.cluster
  location       = var.location
  node_locations = var.training_zones

  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.training_max_nodes
    location_policy      = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.training_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = var.disk_size_gb
    service_account = var.node_service_account
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    spot            = true

    labels = merge(local.common_labels, {
      "resilience.dev/pool" = "training"
    })

    taint {
      key    = "resilience.dev/pool"
      value  = "training"
      effect = "NO_SCHEDULE"
    }

    guest_accelerator {
      type  = var.training_accelerator.type
      count = var.training_accelerator.count

      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}
