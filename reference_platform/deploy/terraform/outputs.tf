output "inference_pools" {
  description = "Inference node pool per platform region."
  value       = { for region, pools in module.gpu_node_pools : region => pools.inference_pool_name }
}

output "training_pools" {
  description = "Spot training node pool per platform region (null where there is none)."
  value       = { for region, pools in module.gpu_node_pools : region => pools.training_pool_name }
}
