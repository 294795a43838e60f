"""Book 5.4: the apple (figure 5-16) and apple+orange (figure 5-17) examples.

The book builds them from MulLayer/AddLayer objects and calls each layer's
backward by hand; here the price is :func:`jaxbp.graph.buy_apple` /
:func:`jaxbp.graph.buy_apple_orange`, composed from the custom_vjp nodes
``mul`` and ``add``, and ``jax.grad`` runs their rules.

    python examples/ch05/buy_apple.py
"""

import jax

from jaxbp.graph import buy_apple, buy_apple_orange


def show(*xs):
    """Values to 6 significant digits, as the book's comments show them.

    In float32, 3 * 1.1 is 3.3000002 (and 3.3000000000000003 in the book's
    float64 Python); both print as 3.3 here.
    """
    return " ".join(f"{float(x):.6g}" for x in xs)


def main():
    price, grads = jax.value_and_grad(buy_apple, argnums=(0, 1, 2))(100.0, 2.0, 1.1)
    dapple, dapple_num, dtax = grads
    print("figure 5-16, apples")
    print("price:", show(price))  # 220
    print("dApple:", show(dapple))  # 2.2
    print("dApple_num:", show(dapple_num))  # 110
    print("dTax:", show(dtax))  # 200

    price, grads = jax.value_and_grad(buy_apple_orange, argnums=(0, 1, 2, 3, 4))(
        100.0, 2.0, 150.0, 3.0, 1.1
    )
    dapple, dapple_num, dorange, dorange_num, dtax = grads
    print("figure 5-17, apples and oranges")
    print("price:", show(price))  # 715
    print(show(dapple_num, dapple, dorange, dorange_num, dtax))  # 110 2.2 3.3 165 650
    return price, grads


if __name__ == "__main__":
    main()
