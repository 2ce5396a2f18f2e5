variable "project_id" {
  description = "Google Cloud project of the vision clusters."
  type        = string
}

variable "node_service_account" {
  description = "Email of the nodes' least-privilege service account."
  type        = string
}

variable "clusters" {
  description = "One existing regional GKE cluster per platform region (a, b): its name, cloud region, GPU zones, and whether it trains. The cloud regions must match k8s/regions/<region>/placement.yaml."
  type = map(object({
    name            = string
    location        = string
    inference_zones = list(string)
    training_zones  = list(string)
  }))
  default = {
    a = {
      name            = "vision-a"
      location        = "us-central1"
      inference_zones = ["us-central1-a", "us-central1-b"]
      training_zones  = ["us-central1-c"]
    }
    b = {
      name            = "vision-b"
      location        = "us-east4"
      inference_zones = ["us-east4-a", "us-east4-c"]
      training_zones  = []
    }
  }
}
