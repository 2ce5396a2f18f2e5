output "inference_pool_name" {
  description = "Name of the inference node pool."
  value       = google_container_node_pool.inference.name
}

output "inference_node_labels" {
  description = "Labels every inference node carries (the overlays' nodeSelector uses resilience.dev/pool)."
  value       = google_container_node_pool.inference.node_config[0].labels
}

output "training_pool_name" {
  description = "Name of the spot training node pool, or null when this cluster has none."
  value       = var.training_enabled ? google_container_node_pool.training[0].name : null
}

output "training_toleration" {
  description = "The toleration training pods need for the training pool's taint."
  value = {
    key      = "resilience.dev/pool"
    operator = "Equal"
    value    = "training"
    effect   = "NoSchedule"
  }
}
