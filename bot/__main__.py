from bot.app.cli import main

main()
