//! The kernel's NIC: probes the virtio-net device through `drivers`, routes its interrupt, and
//! hands it to the network stack (to be written).
