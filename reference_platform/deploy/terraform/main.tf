# The vision platform's GPU capacity on GKE: per platform region (a cluster in its own cloud region), an
# on-demand inference pool; where training_zones are given, a spot training pool too. The clusters
# themselves are out of scope here.
#   terraform init && terraform plan -var project_id=... -var node_service_account=...

provider "google" {
  project = var.project_id
}

module "gpu_node_pools" {
  source   = "./modules/gke-gpu-node-pools"
  for_each = var.clusters

  project_id           = var.project_id
  cluster              = each.value.name
  location             = each.value.location
  node_service_account = var.node_service_account
  platform_region      = each.key
  inference_zones      = each.value.inference_zones
  training_enabled     = length(each.value.training_zones) > 0
  training_zones       = each.value.training_zones
}
