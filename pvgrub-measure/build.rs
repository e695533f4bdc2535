//! Links the image with the kernel's linker script when building for Xen (see `image-build`).
fn main() {
    image_build::link_with_kernel_script()
}
